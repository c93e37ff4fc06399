//! The pass's linear layers in either precision, each runnable in column parts so the
//! members of a [`super::team::Team`] can share one product.

use super::quant::QLinear;
use super::small_gemm;
use crate::embed::Precision;
use gemm::Parallelism;

/// Output columns per part a product splits into (the AVX-512 kernel's slab width).
pub const PART: usize = small_gemm::SLAB;
// Both precisions read a part as one slab: members' column ranges (and the GELU fused
// into them) are only disjoint while the two widths agree.
const _: () = assert!(small_gemm::SLAB == super::int8_gemm::SLAB);

/// A linear layer in the precision the encoder was loaded with.
pub enum Dense {
    F32(Linear),
    Int8(QLinear),
}

impl Dense {
    /// Lays out (and for int8, quantises) PyTorch's `[out × in]` row-major weight.
    pub fn from_torch(w: &[f32], bias: Vec<f32>, precision: Precision) -> Self {
        match precision {
            Precision::F32 => Self::F32(Linear::from_torch(w, bias)),
            Precision::Int8 => Self::Int8(QLinear::from_torch(w, bias)),
        }
    }

    /// Output width.
    pub fn out(&self) -> usize {
        match self {
            Self::F32(l) => l.out(),
            Self::Int8(q) => q.out(),
        }
    }

    /// Column parts of [`PART`] columns (the last may be narrower) a product splits into.
    pub fn parts(&self) -> usize {
        self.out().div_ceil(PART)
    }

    /// `out[rows × n] = x[rows × k] · Wᵀ + bias`, all columns.
    #[cfg(test)]
    pub fn apply(&self, out: &mut [f32], x: &[f32], rows: usize) {
        self.apply_parts(out, x, rows, 0..self.parts())
    }

    /// The columns of `parts` only of `out[rows × n] = x[rows × k] · Wᵀ + bias`; other
    /// columns of `out` are neither read nor written, so members may share `out`.
    pub fn apply_parts(&self, out: &mut [f32], x: &[f32], rows: usize, parts: std::ops::Range<usize>) {
        match self {
            Self::F32(l) => l.apply_parts(out, x, rows, parts),
            Self::Int8(q) => q.apply_parts(out, x, rows, parts),
        }
    }
}

/// An f32 linear layer's weight, laid out once at load for the product that will run
/// it: packed in column slabs for the AVX-512 kernel, or input-major (`[in × out]`,
/// PyTorch's `[out × in]` transposed) for the `gemm` crate.
pub struct Linear {
    w: Vec<f32>,
    bias: Vec<f32>,
    slabs: bool,
}

impl Linear {
    /// Lays out PyTorch's `[out × in]` row-major weight for this CPU.
    pub fn from_torch(w: &[f32], bias: Vec<f32>) -> Self {
        let (n, k) = (bias.len(), w.len() / bias.len());
        if small_gemm::available() && n.is_multiple_of(small_gemm::SLAB) {
            return Self {
                w: small_gemm::pack(w, n),
                bias,
                slabs: true,
            };
        }
        let mut t = vec![0f32; w.len()];
        for j in 0..n {
            for i in 0..k {
                t[i * n + j] = w[j * k + i];
            }
        }
        Self {
            w: t,
            bias,
            slabs: false,
        }
    }

    /// Output width.
    pub fn out(&self) -> usize {
        self.bias.len()
    }

    /// The columns of `parts` of `x[rows × k] · W + bias`: the AVX-512 small-row kernel
    /// where the CPU has it, else the `gemm` crate on this thread.
    fn apply_parts(&self, out: &mut [f32], x: &[f32], rows: usize, parts: std::ops::Range<usize>) {
        let n = self.bias.len();
        let k = self.w.len() / n;
        assert!(out.len() >= rows * n && x.len() >= rows * k);
        if self.slabs {
            return small_gemm::matmul_bias(out, x, rows, &self.w, &self.bias, parts);
        }
        let cols = (parts.start * PART).min(n)..(parts.end * PART).min(n);
        if cols.is_empty() {
            return;
        }
        for row in out[..rows * n].chunks_exact_mut(n) {
            row[cols.clone()].copy_from_slice(&self.bias[cols.clone()]);
        }
        // SAFETY: the pointers cover the extents checked above: dst is rows × cols.len()
        // starting at column cols.start of the rows×n output (row stride n, column
        // stride 1), lhs is rows×k (row stride k), rhs is the k×n weight from column
        // cols.start (row stride n); cols lies inside 0..n, and `out` aliases neither input.
        unsafe {
            gemm::gemm(
                rows,
                cols.len(),
                k,
                out.as_mut_ptr().add(cols.start),
                1,
                n as isize,
                true,
                x.as_ptr(),
                1,
                k as isize,
                self.w.as_ptr().add(cols.start),
                1,
                n as isize,
                1.0,
                1.0,
                false,
                false,
                false,
                Parallelism::None,
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference(x: &[f32], w: &[f32], bias: &[f32], rows: usize) -> Vec<f32> {
        let (n, k) = (bias.len(), w.len() / bias.len());
        let mut out = vec![0f32; rows * n];
        for r in 0..rows {
            for j in 0..n {
                out[r * n + j] = bias[j] + (0..k).map(|i| x[r * k + i] * w[j * k + i]).sum::<f32>();
            }
        }
        out
    }

    #[test]
    fn linear_is_x_times_w_transposed_plus_bias() {
        let (rows, k, n) = (3, 5, 4);
        let x: Vec<f32> = (0..rows * k).map(|i| i as f32 * 0.5 - 3.0).collect();
        let w: Vec<f32> = (0..n * k).map(|i| (i as f32 * 0.37).sin()).collect();
        let bias = vec![0.5, -1.0, 2.0, 0.0];
        let mut out = vec![0f32; rows * n];
        Dense::from_torch(&w, bias.clone(), Precision::F32).apply(&mut out, &x, rows);
        for (a, b) in out.iter().zip(reference(&x, &w, &bias, rows)) {
            assert!((a - b).abs() < 1e-4);
        }
    }

    /// int8 against f32 on a BERT-sized product, every row count the VNNI kernel
    /// blocks (1–12 and past), whole and in two column parts: within the quantisation step.
    #[test]
    fn int8_tracks_f32_within_the_quantisation_error() {
        let (k, n) = (384, 1536);
        let w: Vec<f32> = (0..n * k).map(|i| (i as f32 * 0.618).sin() * 0.1).collect();
        let bias: Vec<f32> = (0..n).map(|j| j as f32 * 1e-3).collect();
        let q = Dense::from_torch(&w, bias.clone(), Precision::Int8);
        for rows in [1, 2, 5, 12, 13, 30] {
            let x: Vec<f32> = (0..rows * k).map(|i| (i as f32 * 0.377).cos() * 2.0).collect();
            let want = reference(&x, &w, &bias, rows);
            // All columns at once, and in two column parts as two team members run it.
            for split in [false, true] {
                let mut got = vec![0f32; rows * n];
                if split {
                    let mid = q.parts() / 2;
                    q.apply_parts(&mut got, &x, rows, 0..mid);
                    q.apply_parts(&mut got, &x, rows, mid..q.parts());
                } else {
                    q.apply(&mut got, &x, rows);
                }
                let (mut dot, mut na, mut nb) = (0f64, 0f64, 0f64);
                for (a, b) in got.iter().zip(&want) {
                    dot += (*a as f64) * (*b as f64);
                    na += (*a as f64).powi(2);
                    nb += (*b as f64).powi(2);
                }
                let cos = dot / (na.sqrt() * nb.sqrt());
                assert!(cos > 0.9995, "rows {rows} split {split}: cosine {cos}");
            }
        }
    }

    /// The VNNI kernel and the portable loop give the same integer sums, so the same outputs.
    #[test]
    fn vnni_and_portable_layouts_agree() {
        use super::super::int8_gemm::{self, Dequant, Layout};
        let (k, n, rows) = (64, 64, 7);
        let q: Vec<i8> = (0..n * k).map(|i| ((i * 37 % 255) as i32 - 127) as i8).collect();
        let u: Vec<u8> = (0..rows * k).map(|i| (i * 91 % 256) as u8).collect();
        let (scale, zero) = (vec![0.01f32; rows], (0..rows as i32).collect::<Vec<_>>());
        let colsum: Vec<i32> = (0..n)
            .map(|j| q[j * k..(j + 1) * k].iter().map(|&v| v as i32).sum())
            .collect();
        let (ws, bias) = (vec![0.02f32; n], vec![0.5f32; n]);
        let dq = Dequant {
            scale: &ws,
            colsum: &colsum,
            bias: &bias,
        };
        let run = |layout| {
            let mut out = vec![0f32; rows * n];
            let w = int8_gemm::pack(&q, n, layout);
            int8_gemm::matmul(
                &mut out,
                &u,
                &scale,
                &zero,
                rows,
                &w,
                layout,
                &dq,
                0..n / int8_gemm::SLAB,
            );
            out
        };
        let portable = run(Layout::Rows);
        if int8_gemm::has_vnni() {
            // Same integer sums; only the last f32 rounding (one FMA vs two steps) differs.
            for (a, b) in run(Layout::Vnni).iter().zip(&portable) {
                assert!((a - b).abs() <= 1e-5 * b.abs().max(1.0), "{a} vs {b}");
            }
        }
        let r = 3;
        let j = 5;
        let sum: i32 = (0..k).map(|i| u[r * k + i] as i32 * q[j * k + i] as i32).sum();
        let want = (sum - zero[r] * colsum[j]) as f32 * 0.01 * 0.02 + 0.5;
        assert!((portable[r * n + j] - want).abs() < 1e-4);
    }
}
