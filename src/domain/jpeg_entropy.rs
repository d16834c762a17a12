//! Where a JPEG scan's entropy-coded data really ends: the scan's Huffman codes walked block by block (no
//! coefficient values kept, no IDCT), so that `jpeg_scans` copies each restart interval up to its last coded
//! bit and not the bytes an uploader may put between it and the next marker, which every decoder skips.
//! Baseline, extended and progressive scans (spectral selection and successive approximation).
//!
//! Hand-written because no pure-Rust decoder says where a scan's data ended: zune-jpeg and jpeg-decoder give
//! pixels only. Its cost, measured in a release build (`benches/renditions.rs`, 2-core VM): passing a 12 MP
//! phone JPEG's scans through (4.2 MB, this walk included) takes 39 ms of CPU, p50, of the render's 148 ms.

/// One frame component: sampling factors, quantisation table.
#[derive(Debug, Clone, Copy)]
pub struct Component {
    pub id: u8,
    pub h: u32,
    pub v: u32,
    pub quant: u8,
}

/// What the frame header says.
#[derive(Debug, Clone)]
pub struct Frame {
    pub width: u32,
    pub height: u32,
    pub progressive: bool,
    pub components: Vec<Component>,
}

/// What a scan header says: frame components (by index) with their DC and AC tables, the band and bits.
#[derive(Debug, Clone)]
pub struct Scan {
    pub components: Vec<(usize, u8, u8)>,
    pub start: u8,
    pub end: u8,
    pub high: u8,
}

impl Scan {
    /// Whether this scan reads its components' DC or AC tables.
    pub fn uses(&self, progressive: bool) -> (bool, bool) {
        if !progressive { (true, true) } else { (self.start == 0 && self.high == 0, self.start > 0) }
    }
}

/// A Huffman table: codes of up to `FAST` bits by lookup, longer ones by length.
#[derive(Debug, Clone)]
pub struct Huffman {
    /// (code length, symbol) by the next `FAST` bits; length 0 when the code is longer.
    fast: Vec<(u8, u8)>,
    /// The last code of each length (index 1..=16), -1 when there is none.
    max_code: [i32; 17],
    /// Index in `symbols` of the first code of each length, minus that code.
    offset: [i32; 17],
    symbols: Vec<u8>,
}

const FAST: u32 = 9;

impl Huffman {
    /// The table of a DHT entry; `None` when the code lengths overflow.
    pub fn new(counts: &[u8], symbols: &[u8]) -> Option<Self> {
        let mut table =
            Huffman { fast: vec![(0, 0); 1 << FAST], max_code: [-1; 17], offset: [0; 17], symbols: symbols.to_vec() };
        let (mut code, mut index) = (0i32, 0usize);
        for length in 1..=16u32 {
            let count = usize::from(*counts.get(length as usize - 1)?);
            table.offset[length as usize] = index as i32 - code;
            for _ in 0..count {
                if code >= 1 << length {
                    return None;
                }
                if length <= FAST {
                    let first = (code as usize) << (FAST - length);
                    for entry in &mut table.fast[first..first + (1 << (FAST - length))] {
                        *entry = (length as u8, *symbols.get(index)?);
                    }
                }
                code += 1;
                index += 1;
            }
            if count > 0 {
                table.max_code[length as usize] = code - 1;
            }
            code <<= 1;
        }
        Some(table)
    }

    fn decode(&self, bits: &mut Bits<'_>) -> Option<u8> {
        let (length, symbol) = self.fast[bits.peek(FAST) as usize];
        if length > 0 {
            bits.consume(u32::from(length));
            return Some(symbol);
        }
        let next = bits.peek(16) as i32;
        for length in FAST + 1..=16 {
            let code = next >> (16 - length);
            if code <= self.max_code[length as usize] {
                bits.consume(length);
                return self.symbols.get(usize::try_from(self.offset[length as usize] + code).ok()?).copied();
            }
        }
        None
    }
}

/// The bits of entropy-coded data (stuffed `FF 00` read as `FF`), zeros past its end, and where in the file
/// the last bit read came from.
struct Bits<'a> {
    src: &'a [u8],
    /// The next byte of `src` to read.
    pos: usize,
    start: usize,
    buffer: u64,
    count: u32,
    /// Where each of the last bytes read ends in `src`, by `pushed % 16`.
    ends: [usize; 16],
    pushed: usize,
    /// Zero bytes given after the data ended (at a marker or the end of the file).
    padding: usize,
}

impl<'a> Bits<'a> {
    fn new(src: &'a [u8], start: usize) -> Self {
        Bits { src, pos: start, start, buffer: 0, count: 0, ends: [start; 16], pushed: 0, padding: 0 }
    }

    fn fill(&mut self) {
        while self.count <= 56 {
            let byte = match (self.padding, self.src.get(self.pos), self.src.get(self.pos + 1)) {
                (0, Some(0xFF), Some(0)) => {
                    self.pos += 2;
                    0xFF
                }
                (0, Some(&byte), _) if byte != 0xFF => {
                    self.pos += 1;
                    byte
                }
                _ => {
                    self.padding += 1;
                    0
                }
            };
            self.buffer = self.buffer << 8 | u64::from(byte);
            self.count += 8;
            self.ends[self.pushed % 16] = self.pos;
            self.pushed += 1;
        }
    }

    /// The next `n` (at most 16) bits.
    fn peek(&mut self, n: u32) -> u32 {
        if self.count < n {
            self.fill();
        }
        ((self.buffer >> (self.count - n)) & ((1 << n) - 1)) as u32
    }

    fn consume(&mut self, n: u32) {
        self.count -= n;
    }

    fn take(&mut self, n: u32) -> u32 {
        if n == 0 {
            return 0;
        }
        let value = self.peek(n);
        self.consume(n);
        value
    }

    /// Where the bytes holding the bits read so far end; `None` when bits past the data's end were read.
    fn end(&self) -> Option<usize> {
        let read = self.pushed.checked_sub(self.count as usize / 8)?;
        if read == 0 {
            return Some(self.start);
        }
        (read <= self.pushed - self.padding).then(|| self.ends[(read - 1) % 16])
    }
}

/// What the progressive scans before this one left: which coefficients of each block are non-zero (bit k for
/// zig-zag position k), for the refinement scans' correction bits.
#[derive(Default)]
pub struct Progress {
    nonzero: Vec<Vec<u64>>,
}

/// The most 8x8 blocks one component may have here: a 100 MP photo sampled 1x1 has 1.6 million.
const MAX_BLOCKS: usize = 1 << 21;

/// Copy the entropy-coded data of `scan` at `src[from..]` to `out`, each restart interval up to its last coded
/// bit and its RST marker; where the next marker after the data is. `None` when the data does not decode.
pub fn copy_scan(
    src: &[u8],
    from: usize,
    frame: &Frame,
    scan: &Scan,
    tables: &[[Option<Huffman>; 4]; 2],
    restart_interval: u16,
    progress: &mut Progress,
    out: &mut Vec<u8>,
) -> Option<usize> {
    let h_max = frame.components.iter().map(|c| c.h).max()?;
    let v_max = frame.components.iter().map(|c| c.v).max()?;
    let blocks_of = |c: &Component| {
        let wide = (frame.width * c.h).div_ceil(h_max).div_ceil(8) as usize;
        let high = (frame.height * c.v).div_ceil(v_max).div_ceil(8) as usize;
        wide * high
    };
    // Per MCU: the blocks of each scan component, as (frame component, DC table, AC table).
    let (mcus, layout): (usize, Vec<(usize, u8, u8)>) = if let [(index, dc, ac)] = scan.components[..] {
        (blocks_of(frame.components.get(index)?), vec![(index, dc, ac)])
    } else {
        let mcus = frame.width.div_ceil(8 * h_max) as usize * frame.height.div_ceil(8 * v_max) as usize;
        let layout = scan.components.iter().flat_map(|&(index, dc, ac)| {
            let c = frame.components[index];
            std::iter::repeat_n((index, dc, ac), (c.h * c.v) as usize)
        });
        (mcus, layout.collect())
    };
    let refining_ac = frame.progressive && scan.start > 0;
    if refining_ac {
        let [(index, ..)] = scan.components[..] else { return None };
        let blocks = blocks_of(&frame.components[index]);
        if blocks > MAX_BLOCKS {
            return None;
        }
        progress.nonzero.resize(frame.components.len(), Vec::new());
        progress.nonzero[index].resize(blocks, 0);
    }
    let [dc_tables, ac_tables] = tables;
    let mut bits = Bits::new(src, from);
    let mut eob_run = 0u32;
    for mcu in 0..mcus {
        for &(index, dc, ac) in &layout {
            let dc = dc_tables.get(usize::from(dc)).and_then(Option::as_ref);
            let ac = ac_tables.get(usize::from(ac)).and_then(Option::as_ref);
            match (frame.progressive, scan.start, scan.high) {
                (false, ..) => sequential_block(&mut bits, dc?, ac?)?,
                (true, 0, 0) => {
                    let size = dc?.decode(&mut bits)?;
                    bits.take(u32::from(size.min(16)));
                }
                (true, 0, _) => {
                    bits.take(1);
                }
                (true, _, high) => {
                    let nonzero = &mut progress.nonzero[index][mcu];
                    if high == 0 {
                        first_ac(&mut bits, ac?, scan, nonzero, &mut eob_run)?;
                    } else {
                        refine_ac(&mut bits, ac?, scan, nonzero, &mut eob_run)?;
                    }
                }
            }
        }
        let restart = restart_interval > 0 && (mcu + 1) % usize::from(restart_interval) == 0 && mcu + 1 < mcus;
        if restart {
            out.extend(&src[bits.start..bits.end()?]);
            let mut at = next_marker(src, bits.pos)?;
            while src.get(at + 1) == Some(&0xFF) {
                at += 1;
            }
            let marker = *src.get(at + 1)?;
            if !(0xD0..=0xD7).contains(&marker) {
                return None;
            }
            out.extend([0xFF, marker]);
            bits = Bits::new(src, at + 2);
            eob_run = 0;
        }
    }
    out.extend(&src[bits.start..bits.end()?]);
    let mut at = bits.pos;
    // Past the data: anything up to a marker that is not a restart is dropped.
    loop {
        at = next_marker(src, at)?;
        match src.get(at + 1)? {
            0xD0..=0xD7 => at += 2,
            _ => return Some(at),
        }
    }
}

/// The first `FF` at or after `from` that is not a stuffed `FF 00`.
fn next_marker(src: &[u8], from: usize) -> Option<usize> {
    let mut at = from;
    loop {
        at += src.get(at..)?.iter().position(|byte| *byte == 0xFF)?;
        if *src.get(at + 1)? != 0 {
            return Some(at);
        }
        at += 2;
    }
}

fn sequential_block(bits: &mut Bits<'_>, dc: &Huffman, ac: &Huffman) -> Option<()> {
    let size = dc.decode(bits)?;
    bits.take(u32::from(size.min(16)));
    let mut k = 1;
    while k <= 63 {
        let symbol = ac.decode(bits)?;
        let (run, size) = (symbol >> 4, symbol & 15);
        if size > 0 {
            k += run;
            bits.take(u32::from(size));
            k += 1;
        } else if run == 15 {
            k += 16;
        } else {
            break;
        }
    }
    Some(())
}

fn first_ac(bits: &mut Bits<'_>, ac: &Huffman, scan: &Scan, nonzero: &mut u64, eob_run: &mut u32) -> Option<()> {
    if *eob_run > 0 {
        *eob_run -= 1;
        return Some(());
    }
    let mut k = scan.start;
    while k <= scan.end {
        let symbol = ac.decode(bits)?;
        let (run, size) = (symbol >> 4, symbol & 15);
        if size > 0 {
            k += run;
            if k > 63 {
                return None;
            }
            bits.take(u32::from(size));
            *nonzero |= 1 << k;
        } else if run == 15 {
            k += 15;
        } else {
            *eob_run = (1 << run) + bits.take(u32::from(run)) - 1;
            break;
        }
        k += 1;
    }
    Some(())
}

/// A refinement scan's block, as libjpeg's `decode_mcu_AC_refine` reads it.
fn refine_ac(bits: &mut Bits<'_>, ac: &Huffman, scan: &Scan, nonzero: &mut u64, eob_run: &mut u32) -> Option<()> {
    let mut k = scan.start;
    if *eob_run == 0 {
        while k <= scan.end {
            let symbol = ac.decode(bits)?;
            let (mut run, size) = (i32::from(symbol >> 4), symbol & 15);
            if size == 0 && run != 15 {
                *eob_run = (1 << run) + bits.take(run as u32);
                break;
            }
            if size > 0 {
                bits.take(1);
            }
            while k <= scan.end {
                if *nonzero & (1 << k) != 0 {
                    bits.take(1);
                } else {
                    run -= 1;
                    if run < 0 {
                        break;
                    }
                }
                k += 1;
            }
            if size > 0 && k <= 63 {
                *nonzero |= 1 << k;
            }
            k += 1;
        }
    }
    if *eob_run > 0 {
        while k <= scan.end {
            if *nonzero & (1 << k) != 0 {
                bits.take(1);
            }
            k += 1;
        }
        *eob_run -= 1;
    }
    Some(())
}
