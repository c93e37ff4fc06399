//! The product of a few quantised token rows with an int8 weight matrix.
//!
//! Rows arrive as unsigned bytes (each row with its own scale and zero point, see
//! [`super::quant`]), weights as signed bytes (one scale per output column), and the
//! dot products are summed exactly in 32-bit integers. On CPUs with AVX-512 VNNI the
//! weight is packed in slabs of 32 output columns and groups of 4 inputs, so one
//! `vpdpbusd` multiplies 4 input bytes by 16 columns and adds them into 16 sums: four
//! times the multiply-adds of one f32 FMA. Elsewhere a portable loop over `[n × k]`
//! rows runs, compiled again with AVX2+FMA when the CPU has it.

use super::kernels::{dispatch, has_avx2_fma};
#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

/// Columns per slab: two registers of 16 32-bit sums.
pub const SLAB: usize = 32;
/// Inputs per group: the 4 bytes one `vpdpbusd` lane sums.
pub const GROUP: usize = 4;
/// Rows per register block (24 accumulators + 2 weight registers + a broadcast < 32).
const ROWS: usize = 12;

/// Whether this CPU runs the VNNI kernel.
pub fn has_vnni() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        static HAS: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
        *HAS.get_or_init(|| {
            is_x86_feature_detected!("avx512f")
                && is_x86_feature_detected!("avx512bw")
                && is_x86_feature_detected!("avx512vnni")
        })
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// How a weight is laid out: which kernel will run it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// Slabs of 32 columns × groups of 4 inputs, for [`has_vnni`] CPUs.
    Vnni,
    /// PyTorch's own `[n × k]` rows, for the portable loop.
    Rows,
}

impl Layout {
    /// The best layout for this CPU and shape (VNNI needs `n` % 32 and `k` % 4 to be 0).
    pub fn for_shape(n: usize, k: usize) -> Self {
        if has_vnni() && n.is_multiple_of(SLAB) && k.is_multiple_of(GROUP) {
            Self::Vnni
        } else {
            Self::Rows
        }
    }
}

/// Lays out the `[n × k]` row-major int8 weight for `layout`. For [`Layout::Vnni`],
/// input kk of column slab·32 + c goes to `slab·k·32 + (kk/4)·128 + c·4 + kk%4`.
pub fn pack(q: &[i8], n: usize, layout: Layout) -> Vec<i8> {
    if layout == Layout::Rows {
        return q.to_vec();
    }
    let k = q.len() / n;
    let mut out = vec![0i8; q.len()];
    for j in 0..n {
        let (slab, c) = (j / SLAB, j % SLAB);
        for kk in 0..k {
            out[slab * k * SLAB + (kk / GROUP) * SLAB * GROUP + c * GROUP + kk % GROUP] = q[j * k + kk];
        }
    }
    out
}

/// What turns a row's integer sums into outputs: `out[c] = (sum[c] − zero·colsum[c])
/// · row_scale · scale[c] + bias[c]`.
pub struct Dequant<'a> {
    /// Per column: the weight's scale.
    pub scale: &'a [f32],
    /// Per column: the sum of its int8 weights (to take the rows' zero points back out).
    pub colsum: &'a [i32],
    pub bias: &'a [f32],
}

/// `out[rows × n] = dequant(u[rows × k] · Wᵀ)` over column slabs `slabs` (VNNI) or all
/// columns (rows layout, `slabs` is then a range of columns / [`SLAB`] rounded up).
/// `row_scale[i]` and `row_zero[i]` describe row i of `u`.
///
/// Panics unless the slices hold the stated extents and, for VNNI, the CPU has it.
#[allow(clippy::too_many_arguments)]
pub fn matmul(
    out: &mut [f32],
    u: &[u8],
    row_scale: &[f32],
    row_zero: &[i32],
    rows: usize,
    w: &[i8],
    layout: Layout,
    dq: &Dequant<'_>,
    slabs: std::ops::Range<usize>,
) {
    let n = dq.bias.len();
    let k = w.len() / n;
    assert!(out.len() >= rows * n && u.len() >= rows * k && w.len() == k * n);
    assert!(row_scale.len() >= rows && row_zero.len() >= rows);
    assert!(dq.scale.len() == n && dq.colsum.len() == n);
    match layout {
        Layout::Vnni => {
            assert!(has_vnni() && n.is_multiple_of(SLAB) && k.is_multiple_of(GROUP));
            assert!(slabs.end * SLAB <= n);
            #[cfg(target_arch = "x86_64")]
            for slab in slabs {
                let mut r = 0;
                while r < rows {
                    let take = (rows - r).min(ROWS);
                    let b = Block { r0: r, slab, k, n };
                    // SAFETY: avx512f/bw/vnni are present and every extent the block
                    // touches was asserted above: rows r..r+take of u (stride k) and out
                    // (stride n), row_scale/row_zero[r..r+take], columns slab·32..+32 of
                    // the per-column slices, and the slab's k×32 bytes of w.
                    unsafe {
                        match take {
                            12 => block_vnni::<12>(out, u, row_scale, row_zero, w, dq, b),
                            11 => block_vnni::<11>(out, u, row_scale, row_zero, w, dq, b),
                            10 => block_vnni::<10>(out, u, row_scale, row_zero, w, dq, b),
                            9 => block_vnni::<9>(out, u, row_scale, row_zero, w, dq, b),
                            8 => block_vnni::<8>(out, u, row_scale, row_zero, w, dq, b),
                            7 => block_vnni::<7>(out, u, row_scale, row_zero, w, dq, b),
                            6 => block_vnni::<6>(out, u, row_scale, row_zero, w, dq, b),
                            5 => block_vnni::<5>(out, u, row_scale, row_zero, w, dq, b),
                            4 => block_vnni::<4>(out, u, row_scale, row_zero, w, dq, b),
                            3 => block_vnni::<3>(out, u, row_scale, row_zero, w, dq, b),
                            2 => block_vnni::<2>(out, u, row_scale, row_zero, w, dq, b),
                            _ => block_vnni::<1>(out, u, row_scale, row_zero, w, dq, b),
                        }
                    }
                    r += take;
                }
            }
        }
        Layout::Rows => {
            let cols = (slabs.start * SLAB).min(n)..(slabs.end * SLAB).min(n);
            #[cfg(target_arch = "x86_64")]
            if has_avx2_fma() {
                // SAFETY: the CPU has AVX2 and FMA, checked just above; the loop is safe Rust.
                return unsafe { rows_avx2(out, u, row_scale, row_zero, rows, w, dq, cols) };
            }
            rows_portable(out, u, row_scale, row_zero, rows, w, dq, cols)
        }
    }
}

/// Where one register block sits: rows from `r0`, one slab, the product's `k` and `n`.
#[derive(Clone, Copy)]
struct Block {
    r0: usize,
    slab: usize,
    k: usize,
    n: usize,
}

/// `R` rows from `b.r0` times one 32-column slab with VNNI, dequantised into `out`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
unsafe fn block_vnni<const R: usize>(
    out: &mut [f32],
    u: &[u8],
    row_scale: &[f32],
    row_zero: &[i32],
    w: &[i8],
    dq: &Dequant<'_>,
    b: Block,
) {
    let Block { r0, slab, k, n } = b;
    let col = slab * SLAB;
    // SAFETY (whole body): the caller guarantees avx512f/bw/vnni and that rows
    // r0..r0+R of u (stride k) and out (stride n), row_scale/row_zero at those rows,
    // columns col..col+32 of dq's slices and the slab's k×32 packed bytes of w exist.
    unsafe {
        let mut acc = [[_mm512_setzero_si512(); 2]; R];
        let up = u.as_ptr().add(r0 * k);
        let mut wp = w.as_ptr().add(slab * k * SLAB) as *const __m512i;
        for g in 0..k / GROUP {
            let w0 = _mm512_loadu_si512(wp);
            let w1 = _mm512_loadu_si512(wp.add(1));
            for (i, a) in acc.iter_mut().enumerate() {
                let four = (up.add(i * k + g * GROUP) as *const i32).read_unaligned();
                let xv = _mm512_set1_epi32(four);
                a[0] = _mm512_dpbusd_epi32(a[0], xv, w0);
                a[1] = _mm512_dpbusd_epi32(a[1], xv, w1);
            }
            wp = wp.add(2);
        }
        let cs = [
            _mm512_loadu_si512(dq.colsum.as_ptr().add(col) as *const __m512i),
            _mm512_loadu_si512(dq.colsum.as_ptr().add(col + 16) as *const __m512i),
        ];
        let sc = [
            _mm512_loadu_ps(dq.scale.as_ptr().add(col)),
            _mm512_loadu_ps(dq.scale.as_ptr().add(col + 16)),
        ];
        let bi = [
            _mm512_loadu_ps(dq.bias.as_ptr().add(col)),
            _mm512_loadu_ps(dq.bias.as_ptr().add(col + 16)),
        ];
        for (i, a) in acc.iter().enumerate() {
            let zero = _mm512_set1_epi32(row_zero[r0 + i]);
            let rs = _mm512_set1_ps(row_scale[r0 + i]);
            let op = out.as_mut_ptr().add((r0 + i) * n + col);
            for h in 0..2 {
                let exact = _mm512_sub_epi32(a[h], _mm512_mullo_epi32(zero, cs[h]));
                let v = _mm512_fmadd_ps(_mm512_cvtepi32_ps(exact), _mm512_mul_ps(rs, sc[h]), bi[h]);
                _mm512_storeu_ps(op.add(h * 16), v);
            }
        }
    }
}

dispatch!(rows_avx2, rows_portable, (out: &mut [f32], u: &[u8], row_scale: &[f32], row_zero: &[i32], rows: usize, w: &[i8], dq: &Dequant<'_>, cols: std::ops::Range<usize>));

/// Every row against columns `cols` of the `[n × k]` weight, plain Rust.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn rows_portable(
    out: &mut [f32],
    u: &[u8],
    row_scale: &[f32],
    row_zero: &[i32],
    rows: usize,
    w: &[i8],
    dq: &Dequant<'_>,
    cols: std::ops::Range<usize>,
) {
    let n = dq.bias.len();
    let k = w.len() / n;
    for i in 0..rows {
        let x = &u[i * k..(i + 1) * k];
        for j in cols.clone() {
            let wr = &w[j * k..(j + 1) * k];
            let sum: i32 = x.iter().zip(wr).map(|(&a, &b)| a as i32 * b as i32).sum();
            let exact = sum - row_zero[i] * dq.colsum[j];
            out[i * n + j] = exact as f32 * row_scale[i] * dq.scale[j] + dq.bias[j];
        }
    }
}
