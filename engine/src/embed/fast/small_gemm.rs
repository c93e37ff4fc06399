//! The product of a few token rows with a weight matrix, for AVX-512 CPUs.
//!
//! A question is 10–40 tokens, so `x` has few rows and the weight is the big operand.
//! General GEMM libraries tile for large `m` and pack the weight on every call; here the
//! weight is packed once at load into slabs of 32 output columns, each slab `[k × 32]`
//! contiguous, so a product streams it front to back: for each slab, blocks of up to 12
//! rows keep 24 accumulators in registers while `k` runs, each weight vector load
//! feeding 12 FMAs and each broadcast of `x` feeding two.

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

/// Columns per slab: two 16-float registers.
pub const SLAB: usize = 32;
/// Rows per register block (24 accumulators + 2 weight registers + a broadcast < 32).
const ROWS: usize = 12;

/// Packs PyTorch's `[n × k]` row-major weight into slabs: element (row kk, column
/// slab·32 + c) of W·ᵀ at `slab·k·32 + kk·32 + c`. `n` must be a multiple of [`SLAB`].
pub fn pack(torch: &[f32], n: usize) -> Vec<f32> {
    let k = torch.len() / n;
    let mut out = vec![0f32; torch.len()];
    for j in 0..n {
        let (slab, c) = (j / SLAB, j % SLAB);
        for kk in 0..k {
            out[slab * k * SLAB + kk * SLAB + c] = torch[j * k + kk];
        }
    }
    out
}

/// Whether this CPU can run [`matmul_bias`].
pub fn available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        static HAS: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
        *HAS.get_or_init(|| is_x86_feature_detected!("avx512f"))
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// `out[rows × n] = x[rows × k] · W + bias[n]` over the column slabs `slabs`, W packed by [`pack`].
///
/// Panics unless `n` is a multiple of [`SLAB`], the slices hold the stated extents and
/// [`available`] is true: callers check all three.
pub fn matmul_bias(
    out: &mut [f32],
    x: &[f32],
    rows: usize,
    w: &[f32],
    bias: &[f32],
    slabs: std::ops::Range<usize>,
) {
    let n = bias.len();
    let k = w.len() / n;
    assert!(available() && n.is_multiple_of(SLAB) && slabs.end * SLAB <= n);
    assert!(out.len() >= rows * n && x.len() >= rows * k && w.len() == k * n);
    #[cfg(target_arch = "x86_64")]
    for slab in slabs {
        let mut r = 0;
        while r < rows {
            let take = (rows - r).min(ROWS);
            // SAFETY: avx512f is present (asserted above); every pointer the block reads
            // or writes lies inside the slices, whose extents were asserted above:
            // rows r..r+take of x and out, columns slab*32..+32 of bias and out, and
            // the slab's k×32 block of the packed w.
            unsafe {
                match take {
                    12 => block::<12>(out, x, w, bias, r, slab, k, n),
                    11 => block::<11>(out, x, w, bias, r, slab, k, n),
                    10 => block::<10>(out, x, w, bias, r, slab, k, n),
                    9 => block::<9>(out, x, w, bias, r, slab, k, n),
                    8 => block::<8>(out, x, w, bias, r, slab, k, n),
                    7 => block::<7>(out, x, w, bias, r, slab, k, n),
                    6 => block::<6>(out, x, w, bias, r, slab, k, n),
                    5 => block::<5>(out, x, w, bias, r, slab, k, n),
                    4 => block::<4>(out, x, w, bias, r, slab, k, n),
                    3 => block::<3>(out, x, w, bias, r, slab, k, n),
                    2 => block::<2>(out, x, w, bias, r, slab, k, n),
                    _ => block::<1>(out, x, w, bias, r, slab, k, n),
                }
            }
            r += take;
        }
    }
}

/// `R` rows starting at `r0` times one 32-column slab, bias included.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[allow(clippy::too_many_arguments)]
unsafe fn block<const R: usize>(
    out: &mut [f32],
    x: &[f32],
    w: &[f32],
    bias: &[f32],
    r0: usize,
    slab: usize,
    k: usize,
    n: usize,
) {
    let col = slab * SLAB;
    // SAFETY (whole body): the caller guarantees avx512f and that rows r0..r0+R of x
    // (stride k) and out (stride n), columns col..col+32 of bias and the slab's k×32
    // packed block of w exist.
    unsafe {
        let b0 = _mm512_loadu_ps(bias.as_ptr().add(col));
        let b1 = _mm512_loadu_ps(bias.as_ptr().add(col + 16));
        let mut acc = [[b0, b1]; R];
        let xp = x.as_ptr().add(r0 * k);
        let mut wp = w.as_ptr().add(slab * k * SLAB);
        for kk in 0..k {
            let w0 = _mm512_loadu_ps(wp);
            let w1 = _mm512_loadu_ps(wp.add(16));
            for (i, a) in acc.iter_mut().enumerate() {
                let xv = _mm512_set1_ps(*xp.add(i * k + kk));
                a[0] = _mm512_fmadd_ps(xv, w0, a[0]);
                a[1] = _mm512_fmadd_ps(xv, w1, a[1]);
            }
            wp = wp.add(SLAB);
        }
        for (i, a) in acc.iter().enumerate() {
            let op = out.as_mut_ptr().add((r0 + i) * n + col);
            _mm512_storeu_ps(op, a[0]);
            _mm512_storeu_ps(op.add(16), a[1]);
        }
    }
}
