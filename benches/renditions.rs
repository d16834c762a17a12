//! What one photo costs to process (issue 15): a 12 MP phone JPEG (4000x3000, EXIF orientation 6, GPS and
//! camera tags) and a 2 MP one become THUMBNAIL, PREVIEW and FULL plus the placeholder, by the same function
//! the worker runs (`domain::renditions::render`), on one thread. Reported per photo: CPU time (this thread's)
//! p50 and max over the runs, wall time, peak RSS during a render (VmHWM after resetting it), and the bytes of
//! each rendition.
//!
//! Run (release build): `cargo bench --bench renditions`.

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::io::Cursor;
use std::time::{Duration, Instant};

use photoshare::domain::renditions;

const RUNS: usize = 7;

/// A photo-like image: smooth gradients with noise (JPEG cost depends on detail, and flat colour is cheap).
fn phone_jpeg(width: u32, height: u32) -> Vec<u8> {
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut rgb = Vec::with_capacity((width * height * 3) as usize);
    for y in 0..height {
        for x in 0..width {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let noise = (seed % 24) as u32;
            rgb.extend([
                ((x * 200 / width) + noise) as u8,
                ((y * 180 / height) + noise) as u8,
                (((x + y) * 120 / (width + height)) + 60 + noise) as u8,
            ]);
        }
    }
    let ascii = |tag, text: &str| exif::Field {
        tag,
        ifd_num: exif::In::PRIMARY,
        value: exif::Value::Ascii(vec![text.as_bytes().to_vec()]),
    };
    let fields = [
        exif::Field { tag: exif::Tag::Orientation, ifd_num: exif::In::PRIMARY, value: exif::Value::Short(vec![6]) },
        ascii(exif::Tag::Make, "Google"),
        ascii(exif::Tag::Model, "Pixel 8"),
        ascii(exif::Tag::DateTimeOriginal, "2026:11:28 18:30:00"),
        ascii(exif::Tag::OffsetTimeOriginal, "+05:30"),
        ascii(exif::Tag::GPSLatitudeRef, "N"),
    ];
    let mut writer = exif::experimental::Writer::new();
    for field in &fields {
        writer.push_field(field);
    }
    let mut tiff = Cursor::new(Vec::new());
    writer.write(&mut tiff, false).expect("EXIF");
    let mut jpeg = Vec::new();
    let mut encoder = jpeg_encoder::Encoder::new(&mut jpeg, 92);
    encoder.add_exif_metadata(&tiff.into_inner()).expect("EXIF fits");
    encoder.encode(&rgb, width as u16, height as u16, jpeg_encoder::ColorType::Rgb).expect("encoded");
    jpeg
}

fn thread_cpu() -> Duration {
    let mut time = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes one timespec we own.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut time) };
    Duration::new(time.tv_sec as u64, time.tv_nsec as u32)
}

/// Peak RSS (MiB) since the last reset.
fn peak_rss_mib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib = status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse::<u64>().ok());
    kib.unwrap_or(0) / 1024
}

fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn main() {
    println!("| photo | input | CPU p50 | CPU max | wall p50 | peak RSS | THUMBNAIL | PREVIEW | FULL |");
    println!("|---|---|---|---|---|---|---|---|---|");
    for (name, width, height) in [("12 MP phone JPEG", 4000, 3000), ("2 MP JPEG", 1920, 1080)] {
        let input = phone_jpeg(width, height);
        let (mut cpu, mut wall, mut peak, mut sizes) = (Vec::new(), Vec::new(), 0, Vec::new());
        for _ in 0..RUNS {
            reset_peak_rss();
            let baseline = peak_rss_mib();
            let (started, started_cpu) = (Instant::now(), thread_cpu());
            let rendered = renditions::render(&input).expect("renders");
            cpu.push(thread_cpu() - started_cpu);
            wall.push(started.elapsed());
            peak = peak.max(peak_rss_mib().saturating_sub(baseline));
            sizes = rendered
                .renditions
                .iter()
                .map(|r| format!("{}x{}, {} KB", r.width, r.height, r.jpeg.len() / 1000))
                .collect();
        }
        cpu.sort();
        wall.sort();
        println!(
            "| {name} | {} KB | {:.0} ms | {:.0} ms | {:.0} ms | +{peak} MiB | {} | {} | {} |",
            input.len() / 1000,
            cpu[RUNS / 2].as_secs_f64() * 1e3,
            cpu[RUNS - 1].as_secs_f64() * 1e3,
            wall[RUNS / 2].as_secs_f64() * 1e3,
            sizes[0],
            sizes[1],
            sizes[2]
        );
    }
}
