//! Row-major float32 matrices as NumPy `.npy` files (format 1.0), so vectors move
//! between kefu and Python tools (`numpy.load`) without a conversion step.

use anyhow::{Context, Result, bail, ensure};
use std::io::{BufWriter, Write};
use std::path::Path;

const MAGIC: &[u8] = b"\x93NUMPY";
/// Header blocks are padded to this many bytes, as NumPy writes them.
const ALIGN: usize = 64;

/// Writes `data` (rows × dim, row-major) as a little-endian float32 `.npy` file.
pub fn write_f32(path: &Path, data: &[f32], dim: usize) -> Result<()> {
    ensure!(
        dim > 0 && data.len().is_multiple_of(dim),
        "{} floats do not make rows of {dim}",
        data.len()
    );
    let rows = data.len() / dim;
    let dict = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': ({rows}, {dim}), }}");
    // magic(6) + version(2) + header length(2) + dict + padding + '\n'
    let unpadded = MAGIC.len() + 4 + dict.len() + 1;
    let pad = unpadded.next_multiple_of(ALIGN) - unpadded;
    let header = format!("{dict}{}\n", " ".repeat(pad));
    let header_len = u16::try_from(header.len()).context("npy header too long")?;
    let file = std::fs::File::create(path).with_context(|| format!("create {}", path.display()))?;
    let mut w = BufWriter::new(file);
    w.write_all(MAGIC)?;
    w.write_all(&[1, 0])?;
    w.write_all(&header_len.to_le_bytes())?;
    w.write_all(header.as_bytes())?;
    for x in data {
        w.write_all(&x.to_le_bytes())?;
    }
    w.flush().with_context(|| format!("write {}", path.display()))?;
    Ok(())
}

/// Reads a 2-D little-endian float32, C-order `.npy` file: (rows × dim floats, dim).
pub fn read_f32(path: &Path) -> Result<(Vec<f32>, usize)> {
    let bytes = std::fs::read(path).with_context(|| format!("read {}", path.display()))?;
    parse_f32(&bytes).with_context(|| format!("{} is not a 2-D float32 .npy file", path.display()))
}

fn parse_f32(bytes: &[u8]) -> Result<(Vec<f32>, usize)> {
    ensure!(bytes.starts_with(MAGIC), "no .npy magic");
    let (header_len, start) = match bytes.get(6) {
        Some(1) => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        Some(2 | 3) if bytes.len() >= 12 => (
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
            12,
        ),
        v => bail!("unsupported .npy version {v:?}"),
    };
    let body = start + header_len;
    ensure!(bytes.len() >= body, "header runs past the end of the file");
    let header = std::str::from_utf8(&bytes[start..body]).context("header is not text")?;
    let compact: String = header.chars().filter(|c| !c.is_whitespace()).collect();
    ensure!(
        compact.contains("'descr':'<f4'"),
        "dtype is not little-endian float32 (header {header:?}); save with dtype=np.float32"
    );
    ensure!(
        compact.contains("'fortran_order':False"),
        "matrix is in Fortran order; save a C-ordered array"
    );
    let shape = compact
        .split("'shape':(")
        .nth(1)
        .and_then(|s| s.split(')').next())
        .context("header has no shape")?;
    let dims: Vec<usize> = shape
        .split(',')
        .filter(|s| !s.is_empty())
        .map(str::parse)
        .collect::<Result<_, _>>()
        .with_context(|| format!("shape ({shape}) is not whole numbers"))?;
    let [rows, dim] = dims[..] else {
        bail!("shape ({shape}) is not 2-D (rows, dim)");
    };
    let data = &bytes[body..];
    ensure!(
        rows.checked_mul(dim).and_then(|n| n.checked_mul(4)) == Some(data.len()),
        "shape ({rows}, {dim}) needs {} bytes of data, the file has {}",
        rows.saturating_mul(dim).saturating_mul(4),
        data.len()
    );
    ensure!(dim > 0, "rows have no columns");
    let floats = data
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    Ok((floats, dim))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_keeps_shape_and_values_and_aligns_the_header() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.npy");
        let data: Vec<f32> = (0..12).map(|i| i as f32 * 0.5 - 1.0).collect();
        write_f32(&path, &data, 4).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!((bytes.len() - 48) % ALIGN, 0, "data starts on a 64-byte boundary");
        assert_eq!(read_f32(&path).unwrap(), (data, 4));
    }

    #[test]
    fn wrong_dtype_and_truncated_data_are_named() {
        let dict = "{'descr': '<f8', 'fortran_order': False, 'shape': (1, 2), }\n";
        let mut bytes = MAGIC.to_vec();
        bytes.extend([1, 0]);
        bytes.extend((dict.len() as u16).to_le_bytes());
        bytes.extend(dict.as_bytes());
        bytes.extend([0u8; 16]);
        let e = parse_f32(&bytes).unwrap_err().to_string();
        assert!(e.contains("float32"), "{e}");
        let ok = bytes.len() - 16;
        let mut short = bytes[..ok].to_vec();
        let fixed = String::from_utf8(short[10..].to_vec())
            .unwrap()
            .replace("<f8", "<f4");
        short.truncate(10);
        short.extend(fixed.as_bytes());
        short.extend([0u8; 4]);
        let e = parse_f32(&short).unwrap_err().to_string();
        assert!(e.contains("needs 8 bytes"), "{e}");
    }
}
