//! int8 linear layers: weights quantised once at load, symmetric per output column;
//! activations quantised on every call, one scale and zero point per token row (so a
//! skewed row such as GELU's output keeps all 256 levels); sums exact in i32, then
//! back to f32 for everything else (layer norms, softmax, residuals stay f32).

use super::dense::split_columns;
use super::int8_gemm::{self, Dequant, Layout};
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

    /// `out[rows × n] = x[rows × k] · Wᵀ + bias`, with `x` quantised row by row first;
    /// `parallel` splits the columns between this thread and one more.
    pub fn apply(&self, out: &mut [f32], x: &[f32], rows: usize, parallel: bool) {
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
            let (u, scale, zero) = (&q.u[..], &q.scale[..], &q.zero[..]);
            split_columns(out, n.div_ceil(int8_gemm::SLAB), parallel, |out, slabs| {
                int8_gemm::matmul(out, u, scale, zero, rows, &self.w, self.layout, &dq, slabs)
            });
        })
    }
}

/// Quantises each row of `x` (width `k`) to bytes: `x ≈ scale · (u − zero)`, the row's
/// minimum and maximum (widened to include 0) spanning 0..=255.
fn quantize_rows(x: &[f32], k: usize, q: &mut Rows) {
    let rows = x.len() / k;
    q.u.resize(x.len(), 0);
    q.scale.resize(rows, 0.0);
    q.zero.resize(rows, 0);
    for (i, row) in x.chunks_exact(k).enumerate() {
        let (lo, hi) = row
            .iter()
            .fold((0f32, 0f32), |(lo, hi), &v| (lo.min(v), hi.max(v)));
        let scale = if hi > lo { (hi - lo) / 255.0 } else { 1.0 };
        let zero = (-lo / scale).round().clamp(0.0, 255.0);
        let inv = 1.0 / scale;
        for (o, &v) in q.u[i * k..(i + 1) * k].iter_mut().zip(row) {
            *o = (v * inv + zero).round().clamp(0.0, 255.0) as u8;
        }
        q.scale[i] = scale;
        q.zero[i] = zero as i32;
    }
}
