//! The element-wise kernels of the fast pass (layer norm, GELU, residual add, softmax),
//! each written once in plain Rust and compiled twice: for the CPU's AVX2+FMA when it
//! has them (picked at run time) and portably otherwise.

/// Declares `$name`: the portable kernel `$portable` compiled again with AVX2+FMA enabled.
macro_rules! dispatch {
    ($name:ident, $portable:ident, ($($arg:ident: $ty:ty),*)) => {
        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = "avx2,fma")]
        #[allow(clippy::too_many_arguments)]
        unsafe fn $name($($arg: $ty),*) {
            $portable($($arg),*)
        }
    };
}
pub(super) use dispatch;

/// Whether this CPU runs the AVX2+FMA builds (checked once).
pub(super) fn has_avx2_fma() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        static HAS: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
        *HAS.get_or_init(|| is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma"))
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// `x = LayerNorm(x + residual)` row by row, with the layer's scale and shift.
pub fn add_layer_norm(x: &mut [f32], residual: &[f32], gamma: &[f32], beta: &[f32], eps: f32) {
    #[cfg(target_arch = "x86_64")]
    if has_avx2_fma() {
        // SAFETY: the CPU has AVX2 and FMA, checked by has_avx2_fma just above.
        return unsafe { add_layer_norm_avx2(x, residual, gamma, beta, eps) };
    }
    add_layer_norm_portable(x, residual, gamma, beta, eps)
}

dispatch!(add_layer_norm_avx2, add_layer_norm_portable, (x: &mut [f32], residual: &[f32], gamma: &[f32], beta: &[f32], eps: f32));

#[inline(always)]
fn add_layer_norm_portable(x: &mut [f32], residual: &[f32], gamma: &[f32], beta: &[f32], eps: f32) {
    let dim = gamma.len();
    for (row, res) in x.chunks_exact_mut(dim).zip(residual.chunks_exact(dim)) {
        for (v, r) in row.iter_mut().zip(res) {
            *v += r;
        }
        norm_row(row, gamma, beta, eps);
    }
}

#[inline(always)]
fn norm_row(row: &mut [f32], gamma: &[f32], beta: &[f32], eps: f32) {
    let dim = row.len() as f32;
    let mean = row.iter().sum::<f32>() / dim;
    let var = row.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / dim;
    let inv = 1.0 / (var + eps).sqrt();
    for ((v, g), b) in row.iter_mut().zip(gamma).zip(beta) {
        *v = (*v - mean) * inv * g + b;
    }
}

/// `x = LayerNorm(x)` row by row (the embedding layer's norm has no residual).
pub fn layer_norm(x: &mut [f32], gamma: &[f32], beta: &[f32], eps: f32) {
    for row in x.chunks_exact_mut(gamma.len()) {
        norm_row(row, gamma, beta, eps);
    }
}

/// BERT's GELU, `x · Φ(x)` with the exact erf (to ~1e-7), in place.
pub fn gelu(x: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if has_avx2_fma() {
        // SAFETY: the CPU has AVX2 and FMA, checked by has_avx2_fma just above.
        return unsafe { gelu_avx2(x) };
    }
    gelu_portable(x)
}

dispatch!(gelu_avx2, gelu_portable, (x: &mut [f32]));

#[inline(always)]
fn gelu_portable(x: &mut [f32]) {
    for v in x.iter_mut() {
        *v = 0.5 * *v * (1.0 + erf(*v * std::f32::consts::FRAC_1_SQRT_2));
    }
}

/// erf by Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7), branch-free so loops vectorise.
#[inline(always)]
fn erf(x: f32) -> f32 {
    let a = x.abs();
    let t = 1.0 / (1.0 + 0.327_591_1 * a);
    let poly =
        t * (0.254_829_6 + t * (-0.284_496_74 + t * (1.421_413_7 + t * (-1.453_152_1 + t * 1.061_405_4))));
    let y = 1.0 - poly * exp(-a * a);
    y.copysign(x)
}

/// e^x for x ≤ 0 down to about -87 (what erf and softmax need), branch-free: 2^n · p(r) with a
/// degree-6 polynomial on r ∈ [-ln2/2, ln2/2] (relative error ~2e-7).
///
/// n is rounded by adding 1.5·2²³, which leaves it in the low mantissa bits, so 2^n is
/// built with integer operations on those bits: a float-to-int cast here (Rust's saturating
/// `as i32`) compiled to a scalar loop over the lanes and cost GELU half its time.
#[inline(always)]
pub(super) fn exp(x: f32) -> f32 {
    const SHIFTER: f32 = 12_582_912.0; // 1.5 · 2²³
    const SHIFTER_BITS: u32 = 0x4B40_0000;
    let x = x.max(-87.0);
    let shifted = x * std::f32::consts::LOG2_E + SHIFTER;
    let n = shifted - SHIFTER;
    // Cody–Waite: ln 2 in two parts, the first (0.693359375) exact in nine bits, so n·ln 2
    // adds no rounding.
    let r = (x - n * 0.693_359_4) + n * 2.121_944_4e-4;
    let p = 1.0
        + r * (1.0 + r * (0.5 + r * (1.0 / 6.0 + r * (1.0 / 24.0 + r * (1.0 / 120.0 + r * (1.0 / 720.0))))));
    // The low bits of `shifted` hold n (two's complement); n + 127 is 2^n's biased exponent.
    let scale = f32::from_bits(shifted.to_bits().wrapping_sub(SHIFTER_BITS).wrapping_add(127) << 23);
    p * scale
}

/// Softmax of one row in place (rows are short: a question's tokens).
#[inline(always)]
pub fn softmax(row: &mut [f32]) {
    let max = reduce8(row, f32::NEG_INFINITY, f32::max);
    // No running sum in this loop: a float reduction keeps its order, so it stays scalar.
    row.iter_mut().for_each(|v| *v = exp(*v - max));
    let inv = 1.0 / reduce8(row, 0.0, |a, b| a + b);
    row.iter_mut().for_each(|v| *v *= inv);
}

/// Folds with eight independent lanes (then folds the lanes), so the loop vectorises.
#[inline(always)]
fn reduce8(x: &[f32], init: f32, f: impl Fn(f32, f32) -> f32) -> f32 {
    let mut acc = [init; 8];
    let chunks = x.chunks_exact(8);
    let tail = chunks.remainder().iter().fold(init, |a, &b| f(a, b));
    for c in chunks {
        for l in 0..8 {
            acc[l] = f(acc[l], c[l]);
        }
    }
    acc.into_iter().fold(tail, f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn erf_and_exp_match_the_standard_library() {
        for i in -400..=400 {
            let x = i as f32 / 50.0;
            let want = libm_erf(x as f64) as f32;
            assert!((erf(x) - want).abs() < 3e-7, "erf({x}) = {} want {want}", erf(x));
            if x <= 0.0 {
                let e = (x as f64).exp() as f32;
                assert!((exp(x) - e).abs() <= 1e-6 * e.max(1e-30), "exp({x})");
            }
        }
        // The whole range softmax can reach, down to the clamp (2^n's exponent stays normal).
        for i in 0..=870 {
            let x = -(i as f32) / 10.0;
            let e = (x as f64).exp() as f32;
            assert!((exp(x) - e).abs() <= 1e-6 * e, "exp({x}) = {} want {e}", exp(x));
        }
        assert!(exp(-1000.0) > 0.0 && exp(-1000.0) < 2e-38);
    }

    /// erf in f64 by Kummer's series, erf(x) = 2/√π·e^(-x²)·Σ 2ⁿx^(2n+1)/(1·3···(2n+1)),
    /// which has no cancellation (the standard library has no erf).
    fn libm_erf(x: f64) -> f64 {
        if x.abs() > 6.0 {
            return x.signum();
        }
        let mut term = x;
        let mut sum = x;
        let x2 = x * x;
        for n in 1..200 {
            term *= 2.0 * x2 / (2 * n + 1) as f64;
            sum += term;
        }
        2.0 / std::f64::consts::PI.sqrt() * (-x2).exp() * sum
    }

    #[test]
    fn both_builds_agree() {
        let mut a: Vec<f32> = (0..999).map(|i| (i as f32 - 500.0) / 97.0).collect();
        let mut b = a.clone();
        gelu(&mut a);
        gelu_portable(&mut b);
        assert_eq!(a.len(), b.len());
        for (x, y) in a.iter().zip(&b) {
            assert!((x - y).abs() < 1e-6);
        }
    }
}
