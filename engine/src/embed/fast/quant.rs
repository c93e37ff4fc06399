//! int8 linear layers: weights quantised once at load, symmetric per output column;
//! activations quantised on every call, one scale and zero point per token row (so a
//! skewed row such as GELU's output keeps all 256 levels); sums exact in i32, then
//! back to f32 for everything else (layer norms, softmax, residuals stay f32).

use super::int8_gemm::{self, Dequant, Layout};
use super::kernels::{dispatch, has_avx2_fma};
use std::cell::RefCell;

/// A linear layer with int8 weights.
pub struct QLinear {
    w: Vec<i8>,
    layout: Layout,
    scale: Vec<f32>,
    colsum: Vec<i32>,
    bias: Vec<f32>,
}

/// One call's quantised rows, reused by the thread across calls.
#[derive(Default)]
struct Rows {
    u: Vec<u8>,
    scale: Vec<f32>,
    zero: Vec<i32>,
}

thread_local! {
    static ROWS: RefCell<Rows> = RefCell::new(Rows::default());
}

impl QLinear {
    /// Quantises PyTorch's `[out × in]` row-major f32 weight: column j's scale is
    /// max|W_j| / 127 and its values round to the nearest step.
    pub fn from_torch(w: &[f32], bias: Vec<f32>) -> Self {
        let (n, k) = (bias.len(), w.len() / bias.len());
        let mut q = vec![0i8; w.len()];
        let mut scale = vec![0f32; n];
        let mut colsum = vec![0i32; n];
        for j in 0..n {
            let row = &w[j * k..(j + 1) * k];
            let max = row.iter().fold(0f32, |m, v| m.max(v.abs()));
            let s = if max > 0.0 { max / 127.0 } else { 1.0 };
            scale[j] = s;
            for (o, v) in q[j * k..(j + 1) * k].iter_mut().zip(row) {
                *o = (v / s).round().clamp(-127.0, 127.0) as i8;
            }
            colsum[j] = q[j * k..(j + 1) * k].iter().map(|&v| v as i32).sum();
        }
        let layout = Layout::for_shape(n, k);
        Self {
            w: int8_gemm::pack(&q, n, layout),
            layout,
            scale,
            colsum,
            bias,
        }
    }

    /// Output width.
    pub fn out(&self) -> usize {
        self.bias.len()
    }

    /// The columns of `parts` (of [`int8_gemm::SLAB`] columns each) of
    /// `out[rows × n] = x[rows × k] · Wᵀ + bias`, with `x` quantised row by row first
    /// (by every member that shares the product: it is cheap next to the product).
    pub fn apply_parts(&self, out: &mut [f32], x: &[f32], rows: usize, parts: std::ops::Range<usize>) {
        let n = self.bias.len();
        let k = self.w.len() / n;
        assert!(out.len() >= rows * n && x.len() >= rows * k);
        ROWS.with(|cell| {
            let mut guard = cell.borrow_mut();
            let q = &mut *guard;
            quantize_rows(&x[..rows * k], k, q);
            let dq = Dequant {
                scale: &self.scale,
                colsum: &self.colsum,
                bias: &self.bias,
            };
            let slabs = parts.start..parts.end.min(n.div_ceil(int8_gemm::SLAB));
            int8_gemm::matmul(
                out,
                &q.u,
                &q.scale,
                &q.zero,
                rows,
                &self.w,
                self.layout,
                &dq,
                slabs,
            );
        })
    }
}

/// Quantises each row of `x` (width `k`) to bytes: `x ≈ scale · (u − zero)`, the row's
/// minimum and maximum (widened to include 0) spanning 0..=255 (the AVX2+FMA build
/// where the CPU has it).
fn quantize_rows(x: &[f32], k: usize, q: &mut Rows) {
    let rows = x.len() / k;
    q.u.resize(x.len(), 0);
    q.scale.resize(rows, 0.0);
    q.zero.resize(rows, 0);
    #[cfg(target_arch = "x86_64")]
    if k.is_multiple_of(16) && int8_gemm::has_vnni() {
        // SAFETY: the CPU has AVX-512 F/BW (has_vnni checks them) and k is a multiple
        // of 16, as quantize_avx512 requires; the slices were sized just above.
        return unsafe { quantize_avx512(x, k, &mut q.u, &mut q.scale, &mut q.zero) };
    }
    #[cfg(target_arch = "x86_64")]
    if has_avx2_fma() {
        // SAFETY: the CPU has AVX2 and FMA, checked by has_avx2_fma just above.
        return unsafe { quantize_avx2(x, k, &mut q.u, &mut q.scale, &mut q.zero) };
    }
    quantize_portable(x, k, &mut q.u, &mut q.scale, &mut q.zero)
}

/// [`quantize_portable`] with AVX-512: 16 values per step, rounding and saturating in
/// the conversion instructions (k must be a multiple of 16).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw")]
unsafe fn quantize_avx512(x: &[f32], k: usize, u: &mut [u8], scales: &mut [f32], zeros: &mut [i32]) {
    use std::arch::x86_64::*;
    assert!(k.is_multiple_of(16) && u.len() >= x.len());
    let rows = x.len() / k;
    assert!(scales.len() >= rows && zeros.len() >= rows);
    for i in 0..rows {
        // SAFETY: row i spans x[i·k..(i+1)·k] and u[i·k..(i+1)·k], both inside the
        // slices (asserted above), read and written 16 elements at a time (k % 16 = 0).
        unsafe {
            let xp = x.as_ptr().add(i * k);
            let (mut lo, mut hi) = (_mm512_setzero_ps(), _mm512_setzero_ps());
            for c in (0..k).step_by(16) {
                let v = _mm512_loadu_ps(xp.add(c));
                lo = _mm512_min_ps(lo, v);
                hi = _mm512_max_ps(hi, v);
            }
            let (lo, hi) = (_mm512_reduce_min_ps(lo), _mm512_reduce_max_ps(hi));
            let scale = if hi > lo { (hi - lo) / 255.0 } else { 1.0 };
            let zero = (-lo / scale + 0.5).clamp(0.0, 255.0) as i32;
            let (inv, z) = (_mm512_set1_ps(1.0 / scale), _mm512_set1_ps(zero as f32));
            let (floor, ceil) = (_mm512_setzero_si512(), _mm512_set1_epi32(255));
            let up = u.as_mut_ptr().add(i * k);
            for c in (0..k).step_by(16) {
                let v = _mm512_fmadd_ps(_mm512_loadu_ps(xp.add(c)), inv, z);
                let n = _mm512_min_epi32(_mm512_max_epi32(_mm512_cvtps_epi32(v), floor), ceil);
                _mm_storeu_si128(up.add(c) as *mut __m128i, _mm512_cvtepi32_epi8(n));
            }
            scales[i] = scale;
            zeros[i] = zero;
        }
    }
}

dispatch!(quantize_avx2, quantize_portable, (x: &[f32], k: usize, u: &mut [u8], scales: &mut [f32], zeros: &mut [i32]));

#[inline(always)]
fn quantize_portable(x: &[f32], k: usize, u: &mut [u8], scales: &mut [f32], zeros: &mut [i32]) {
    for (i, row) in x.chunks_exact(k).enumerate() {
        let (mut lo, mut hi) = ([0f32; 8], [0f32; 8]);
        let chunks = row.chunks_exact(8);
        for v in chunks.remainder() {
            lo[0] = lo[0].min(*v);
            hi[0] = hi[0].max(*v);
        }
        for c in chunks {
            for l in 0..8 {
                lo[l] = if c[l] < lo[l] { c[l] } else { lo[l] };
                hi[l] = if c[l] > hi[l] { c[l] } else { hi[l] };
            }
        }
        let lo = lo.iter().fold(0f32, |m, v| m.min(*v));
        let hi = hi.iter().fold(0f32, |m, v| m.max(*v));
        let scale = if hi > lo { (hi - lo) / 255.0 } else { 1.0 };
        // x/scale + zero lies in 0..=255; adding ½ and truncating rounds to nearest.
        let zero = (-lo / scale + 0.5).clamp(0.0, 255.0) as i32 as f32;
        let inv = 1.0 / scale;
        let offset = zero + 0.5;
        for (o, &v) in u[i * k..(i + 1) * k].iter_mut().zip(row) {
            *o = (v * inv + offset).clamp(0.0, 255.0) as u8;
        }
        scales[i] = scale;
        zeros[i] = zero as i32;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every build of the row quantiser gives the same scale and zero point and bytes
    /// within one step (ties may round either way), and the bytes reconstruct the row.
    #[test]
    fn quantised_rows_reconstruct_the_input_in_every_build() {
        let k = 384;
        let x: Vec<f32> = (0..3 * k).map(|i| (i as f32 * 0.731).sin() * 3.0 + 0.5).collect();
        let mut q = Rows::default();
        quantize_rows(&x, k, &mut q);
        let (mut u, mut s, mut z) = (vec![0u8; x.len()], vec![0f32; 3], vec![0i32; 3]);
        quantize_portable(&x, k, &mut u, &mut s, &mut z);
        assert_eq!((&q.scale, &q.zero), (&s, &z));
        for (i, (a, b)) in q.u.iter().zip(&u).enumerate() {
            assert!(a.abs_diff(*b) <= 1, "byte {i}: {a} vs {b}");
            let row = i / k;
            let back = q.scale[row] * (*a as i32 - q.zero[row]) as f32;
            assert!(
                (back - x[i]).abs() <= q.scale[row],
                "value {i}: {back} vs {}",
                x[i]
            );
        }
    }
}
