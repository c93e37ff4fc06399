//! Dot products for unit vectors: the inner loop of every search.
//!
//! The kernel is chosen once at run time (AVX-512F, AVX2+FMA, or portable)
//! and called through a function pointer, so one binary runs everywhere.

use std::sync::OnceLock;

type DotFn = fn(&[f32], &[f32]) -> f32;

/// Which kernel [`dot`] uses on this CPU, for benches and `kefu inspect`.
pub fn kernel_name() -> &'static str {
    kernel().0
}

fn kernel() -> &'static (&'static str, DotFn) {
    static K: OnceLock<(&'static str, DotFn)> = OnceLock::new();
    K.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        {
            if std::env::var_os("KEFU_NO_SIMD").is_none() {
                if is_x86_feature_detected!("avx512f") {
                    return ("avx512", x86::dot_avx512_safe as DotFn);
                }
                if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
                    return ("avx2+fma", x86::dot_avx2_safe as DotFn);
                }
            }
        }
        ("portable", dot_portable as DotFn)
    })
}

/// Dot product of two equal-length slices (cosine similarity for unit vectors).
#[inline]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    debug_assert_eq!(a.len(), b.len());
    (kernel().1)(a, b)
}

/// Portable kernel: eight independent accumulators let the compiler vectorise.
pub fn dot_portable(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0f32; 8];
    let chunks = n / 8;
    for c in 0..chunks {
        for l in 0..8 {
            acc[l] += a[c * 8 + l] * b[c * 8 + l];
        }
    }
    let mut s: f32 = acc.iter().sum();
    for i in chunks * 8..n {
        s += a[i] * b[i];
    }
    s
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    pub fn dot_avx2_safe(a: &[f32], b: &[f32]) -> f32 {
        // SAFETY: selected only after is_x86_feature_detected!("avx2") and ("fma").
        unsafe { dot_avx2(a, b) }
    }

    pub fn dot_avx512_safe(a: &[f32], b: &[f32]) -> f32 {
        // SAFETY: selected only after is_x86_feature_detected!("avx512f").
        unsafe { dot_avx512(a, b) }
    }

    #[target_feature(enable = "avx2,fma")]
    unsafe fn dot_avx2(a: &[f32], b: &[f32]) -> f32 {
        let n = a.len().min(b.len());
        let (pa, pb) = (a.as_ptr(), b.as_ptr());
        let mut acc0 = _mm256_setzero_ps();
        let mut acc1 = _mm256_setzero_ps();
        let mut i = 0;
        // SAFETY: every load reads 8 floats at i < n - 15 or i < n - 7, inside both slices.
        unsafe {
            while i + 16 <= n {
                acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(pa.add(i)), _mm256_loadu_ps(pb.add(i)), acc0);
                acc1 = _mm256_fmadd_ps(
                    _mm256_loadu_ps(pa.add(i + 8)),
                    _mm256_loadu_ps(pb.add(i + 8)),
                    acc1,
                );
                i += 16;
            }
            if i + 8 <= n {
                acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(pa.add(i)), _mm256_loadu_ps(pb.add(i)), acc0);
                i += 8;
            }
            let acc = _mm256_add_ps(acc0, acc1);
            let hi = _mm256_extractf128_ps(acc, 1);
            let lo = _mm256_castps256_ps128(acc);
            let s4 = _mm_add_ps(hi, lo);
            let s2 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
            let s1 = _mm_add_ss(s2, _mm_shuffle_ps(s2, s2, 1));
            let mut s = _mm_cvtss_f32(s1);
            while i < n {
                s += *pa.add(i) * *pb.add(i);
                i += 1;
            }
            s
        }
    }

    #[target_feature(enable = "avx512f")]
    unsafe fn dot_avx512(a: &[f32], b: &[f32]) -> f32 {
        let n = a.len().min(b.len());
        let (pa, pb) = (a.as_ptr(), b.as_ptr());
        let mut acc0 = _mm512_setzero_ps();
        let mut acc1 = _mm512_setzero_ps();
        let mut i = 0;
        // SAFETY: every load reads 16 floats below n, inside both slices.
        unsafe {
            while i + 32 <= n {
                acc0 = _mm512_fmadd_ps(_mm512_loadu_ps(pa.add(i)), _mm512_loadu_ps(pb.add(i)), acc0);
                acc1 = _mm512_fmadd_ps(
                    _mm512_loadu_ps(pa.add(i + 16)),
                    _mm512_loadu_ps(pb.add(i + 16)),
                    acc1,
                );
                i += 32;
            }
            if i + 16 <= n {
                acc0 = _mm512_fmadd_ps(_mm512_loadu_ps(pa.add(i)), _mm512_loadu_ps(pb.add(i)), acc0);
                i += 16;
            }
            let mut s = _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
            while i < n {
                s += *pa.add(i) * *pb.add(i);
                i += 1;
            }
            s
        }
    }

    #[cfg(test)]
    pub fn all() -> Vec<(&'static str, super::DotFn)> {
        let mut v: Vec<(&'static str, super::DotFn)> = Vec::new();
        if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
            v.push(("avx2", dot_avx2_safe));
        }
        if is_x86_feature_detected!("avx512f") {
            v.push(("avx512", dot_avx512_safe));
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kernel_agrees_with_the_portable_one() {
        #[cfg(target_arch = "x86_64")]
        for len in [0usize, 1, 7, 8, 15, 16, 17, 31, 33, 100, 384, 385] {
            let a: Vec<f32> = (0..len).map(|i| ((i * 37 % 11) as f32 - 5.0) / 7.0).collect();
            let b: Vec<f32> = (0..len).map(|i| ((i * 13 % 17) as f32 - 8.0) / 9.0).collect();
            let want = dot_portable(&a, &b);
            for (name, f) in x86::all() {
                let got = f(&a, &b);
                assert!(
                    (got - want).abs() <= 1e-4 * (1.0 + want.abs()),
                    "{name} len {len}: {got} vs {want}"
                );
            }
        }
    }
}
