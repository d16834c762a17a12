//! What one photo costs to process (issue 15): a 12 MP phone JPEG (4000x3000, EXIF orientation 6, GPS and
//! camera tags) and a 2 MP one become THUMBNAIL, PREVIEW and FULL plus the placeholder, by the same function
//! the worker runs (`domain::renditions::render`), on one thread. Reported per photo: CPU time (this thread's)
//! p50 and max over the runs, wall time, peak RSS during a render (VmHWM after resetting it), and the bytes of
//! each rendition.
//!
//! Then the render-cost bombs, tiny files claiming 100 MP (a lossless WebP and a 16-bit grey+alpha PNG, made
//! here): how each ends and the process's peak RSS (absolute, and growth during the render), which must stay
//! under 700 MiB. Then the cost of passing a 12 MP JPEG's scans through (`jpeg_scans`, what FULL costs), and
//! Debian's `vipsthumbnail` (libvips) on the same files for comparison: its CPU per invocation (children's
//! rusage) at `-s 1600` and `-s 400`, against ours (skipped when it is not installed).
//!
//! Run (release build): `cargo bench --bench renditions`.

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::io::Cursor;
use std::time::{Duration, Instant};

use photoshare::domain::{jpeg_scans, renditions};

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
    let ours = photos();
    bombs();
    pass_through_cost();
    libvips(&ours);
}

/// Our CPU p50 per photo, with the photo.
fn photos() -> Vec<(&'static str, Vec<u8>, Duration)> {
    let mut ours = Vec::new();
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
        ours.push((name, input, cpu[RUNS / 2]));
    }
    ours
}

fn bombs() {
    const SIDE: u32 = 10_000;
    let webp = {
        let grey = vec![0u8; (SIDE * SIDE) as usize];
        let mut out = Vec::new();
        image::codecs::webp::WebPEncoder::new_lossless(&mut out)
            .encode(&grey, SIDE, SIDE, image::ExtendedColorType::L8)
            .expect("WebP");
        out
    };
    let png = {
        let path = std::env::temp_dir().join(format!("bomb-{}.png", std::process::id()));
        let file = std::io::BufWriter::new(std::fs::File::create(&path).expect("PNG file"));
        let mut encoder = png::Encoder::new(file, SIDE, SIDE);
        encoder.set_color(png::ColorType::GrayscaleAlpha);
        encoder.set_depth(png::BitDepth::Sixteen);
        let mut writer = encoder.write_header().expect("PNG header").into_stream_writer().expect("PNG stream");
        let row = vec![0x7Fu8; SIDE as usize * 4];
        for _ in 0..SIDE {
            std::io::Write::write_all(&mut writer, &row).expect("PNG row");
        }
        writer.finish().expect("PNG end");
        let out = std::fs::read(&path).expect("PNG read");
        let _ = std::fs::remove_file(&path);
        out
    };
    println!();
    println!("| bomb (10000x10000) | file | ends | CPU | peak RSS (process) | growth during the render |");
    println!("|---|---|---|---|---|---|");
    for (name, bytes) in [("lossless WebP", webp), ("16-bit grey+alpha PNG", png)] {
        reset_peak_rss();
        let baseline = peak_rss_mib();
        let started_cpu = thread_cpu();
        let ends = match renditions::render(&bytes) {
            Ok(_) => "READY".to_string(),
            Err(reason) => format!("FAILED: {reason}"),
        };
        let cpu = thread_cpu() - started_cpu;
        let total = peak_rss_mib();
        println!(
            "| {name} | {} B | {ends} | {:.0} ms | {total} MiB | +{} MiB |",
            bytes.len(),
            cpu.as_secs_f64() * 1e3,
            total.saturating_sub(baseline)
        );
    }
}

fn pass_through_cost() {
    let input = phone_jpeg(4000, 3000);
    let mut cpu = Vec::new();
    for _ in 0..RUNS {
        let started = thread_cpu();
        let passed = jpeg_scans::without_metadata(&input, 6);
        cpu.push(thread_cpu() - started);
        assert!(passed.is_some(), "the scans pass through");
    }
    cpu.sort();
    println!();
    println!(
        "FULL of the 12 MP JPEG by its own scans (jpeg_scans with jpeg_entropy's walk): CPU p50 {:.1} ms, max {:.1} ms",
        cpu[RUNS / 2].as_secs_f64() * 1e3,
        cpu[RUNS - 1].as_secs_f64() * 1e3
    );
}

fn children_cpu() -> Duration {
    // SAFETY: getrusage writes one rusage we own.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) };
    let time = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    time(usage.ru_utime) + time(usage.ru_stime)
}

/// CPU per `vipsthumbnail` invocation on `path` at `size`; `None` when it cannot run.
fn vips_cpu(path: &std::path::Path, size: &str, out: &std::path::Path) -> Option<Duration> {
    let before = children_cpu();
    for _ in 0..RUNS {
        let status = std::process::Command::new("vipsthumbnail")
            .arg(path)
            .args(["-s", size, "-o"])
            .arg(out.join("thumb_%s.jpg"))
            .status()
            .ok()?;
        if !status.success() {
            return None;
        }
    }
    Some((children_cpu() - before) / RUNS as u32)
}

fn libvips(ours: &[(&'static str, Vec<u8>, Duration)]) {
    println!();
    let dir = std::env::temp_dir().join(format!("renditions-bench-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let tiny = dir.join("tiny.jpg");
    let _ = std::fs::write(&tiny, phone_jpeg(64, 48));
    let Some(start) = vips_cpu(&tiny, "400", &dir) else {
        println!("vipsthumbnail is not installed (Debian: libvips-tools): no comparison with libvips");
        return;
    };
    println!("vipsthumbnail's own start (a 64x48 JPEG): {:.0} ms CPU, subtracted below", start.as_secs_f64() * 1e3);
    println!("| photo | ours (3 renditions + placeholder) | vips -s 1600 | vips -s 400 | ours / (1600 + 400) |");
    println!("|---|---|---|---|---|");
    for (name, input, our_cpu) in ours {
        let path = dir.join("photo.jpg");
        let _ = std::fs::write(&path, input);
        let (Some(large), Some(small)) = (vips_cpu(&path, "1600", &dir), vips_cpu(&path, "400", &dir)) else {
            println!("| {name} | vipsthumbnail failed |");
            continue;
        };
        let (large, small) = (large.saturating_sub(start), small.saturating_sub(start));
        println!(
            "| {name} | {:.0} ms | {:.0} ms | {:.0} ms | {:.2} |",
            our_cpu.as_secs_f64() * 1e3,
            large.as_secs_f64() * 1e3,
            small.as_secs_f64() * 1e3,
            our_cpu.as_secs_f64() / (large + small).as_secs_f64().max(1e-6)
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
