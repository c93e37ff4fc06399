//! One forward pass over a batch of token sequences, without padding: every sequence's
//! tokens are stacked as rows, so the dense products (QKV, attention output, FFN) run
//! once over all rows and only attention looks at one sequence at a time.
//! Activations live in per-thread buffers that grow once and are reused.

use super::kernels::{add_layer_norm, dispatch, gelu, has_avx2_fma, layer_norm, softmax};
use super::weights::Weights;
use crate::embed::EmbedError;
use crate::embed::Pooling;
use std::cell::RefCell;

/// The shapes and switches of one model's pass.
#[derive(Clone, Copy)]
pub struct Plan {
    pub heads: usize,
    pub eps: f32,
    pub pooling: Pooling,
    /// Threads each matrix product may use (1 = the calling thread only).
    pub threads: usize,
}

/// Activation buffers of one thread, reused across calls.
#[derive(Default)]
struct Scratch {
    x: Vec<f32>,
    qkv: Vec<f32>,
    ctx: Vec<f32>,
    tmp: Vec<f32>,
    inter: Vec<f32>,
    attention: Vec<f32>,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

/// Grows a buffer to `len` (never shrinks it: the next call likely needs as much).
fn sized(buf: &mut Vec<f32>, len: usize) -> &mut [f32] {
    if buf.len() < len {
        buf.resize(len, 0.0);
    }
    &mut buf[..len]
}

/// Sentence vectors (pooled, not yet normalised) for each token sequence.
pub fn encode(w: &Weights, plan: &Plan, seqs: &[&[u32]]) -> Result<Vec<Vec<f32>>, EmbedError> {
    let h = w.hidden;
    for s in seqs {
        if s.len() > w.positions {
            return Err(EmbedError::Inference(format!(
                "{} tokens exceed the model's {} positions",
                s.len(),
                w.positions
            )));
        }
        if let Some(&id) = s.iter().find(|&&id| id as usize >= w.vocab) {
            return Err(EmbedError::Inference(format!(
                "token id {id} is outside the vocabulary of {}",
                w.vocab
            )));
        }
    }
    let rows: usize = seqs.iter().map(|s| s.len()).sum();
    SCRATCH.with(|cell| {
        let mut guard = cell.borrow_mut();
        let sc = &mut *guard;
        let x = sized(&mut sc.x, rows * h);
        let mut r = 0;
        for s in seqs {
            for (pos, &id) in s.iter().enumerate() {
                let row = &mut x[r * h..(r + 1) * h];
                let word = &w.word[id as usize * h..(id as usize + 1) * h];
                let position = &w.position[pos * h..(pos + 1) * h];
                for (((o, a), b), c) in row.iter_mut().zip(word).zip(position).zip(&w.token_type) {
                    *o = a + b + c;
                }
                r += 1;
            }
        }
        layer_norm(x, &w.embed_norm.0, &w.embed_norm.1, plan.eps);

        for layer in &w.layers {
            let inter_len = layer.ffn_in.out();
            let qkv = sized(&mut sc.qkv, rows * 3 * h);
            layer.qkv.apply(qkv, &sc.x[..rows * h], rows, plan.threads);
            let ctx = sized(&mut sc.ctx, rows * h);
            let longest = seqs.iter().map(|s| s.len()).max().unwrap_or(0);
            let work = sized(&mut sc.attention, attend_work(longest, h, plan.heads));
            attend(qkv, ctx, work, seqs, h, plan.heads);

            let tmp = sized(&mut sc.tmp, rows * h);
            layer.attn_out.apply(tmp, ctx, rows, plan.threads);
            add_layer_norm(
                tmp,
                &sc.x[..rows * h],
                &layer.attn_norm.0,
                &layer.attn_norm.1,
                plan.eps,
            );
            std::mem::swap(&mut sc.x, &mut sc.tmp);

            let inter = sized(&mut sc.inter, rows * inter_len);
            layer.ffn_in.apply(inter, &sc.x[..rows * h], rows, plan.threads);
            gelu(inter);
            let tmp = sized(&mut sc.tmp, rows * h);
            layer.ffn_out.apply(tmp, inter, rows, plan.threads);
            add_layer_norm(
                tmp,
                &sc.x[..rows * h],
                &layer.out_norm.0,
                &layer.out_norm.1,
                plan.eps,
            );
            std::mem::swap(&mut sc.x, &mut sc.tmp);
        }

        let x = &sc.x[..rows * h];
        let mut out = Vec::with_capacity(seqs.len());
        let mut r = 0;
        for s in seqs {
            let mut v = vec![0f32; h];
            let tokens = &x[r * h..(r + s.len()) * h];
            match plan.pooling {
                Pooling::Cls => v.copy_from_slice(&tokens[..h.min(tokens.len())]),
                Pooling::Mean => {
                    for row in tokens.chunks_exact(h) {
                        v.iter_mut().zip(row).for_each(|(a, b)| *a += b);
                    }
                    let n = s.len().max(1) as f32;
                    v.iter_mut().for_each(|a| *a /= n);
                }
            }
            out.push(v);
            r += s.len();
        }
        Ok(out)
    })
}

/// Scaled dot-product attention of every head over each sequence's own tokens
/// (the AVX2+FMA build where the CPU has it). `work` holds one row of scores and
/// one head's keys transposed: `longest · (1 + h / heads)` floats.
fn attend(qkv: &[f32], ctx: &mut [f32], work: &mut [f32], seqs: &[&[u32]], h: usize, heads: usize) {
    #[cfg(target_arch = "x86_64")]
    if has_avx2_fma() {
        // SAFETY: the CPU has AVX2 and FMA, checked by has_avx2_fma just above.
        return unsafe { attend_avx2(qkv, ctx, work, seqs, h, heads) };
    }
    attend_portable(qkv, ctx, work, seqs, h, heads)
}

dispatch!(attend_avx2, attend_portable, (qkv: &[f32], ctx: &mut [f32], work: &mut [f32], seqs: &[&[u32]], h: usize, heads: usize));

/// Floats of scratch [`attend`] needs for sequences of at most `longest` tokens.
fn attend_work(longest: usize, h: usize, heads: usize) -> usize {
    let padded = longest.next_multiple_of(LANES);
    padded * (1 + h / heads)
}

/// Lanes of the blocks the attention loops keep in registers.
const LANES: usize = 8;

/// Each head's keys are transposed (pre-scaled, padded to whole blocks of eight) once
/// per sequence, so a query's scores come eight keys at a time from `d` multiply-adds
/// into one register block, with no horizontal sum per query–key pair; the weighted
/// sum of values likewise runs eight output dimensions at a time in registers.
#[inline(always)]
fn attend_portable(qkv: &[f32], ctx: &mut [f32], work: &mut [f32], seqs: &[&[u32]], h: usize, heads: usize) {
    let d = h / heads;
    let scale = 1.0 / (d as f32).sqrt();
    let stride = 3 * h;
    let longest = seqs.iter().map(|s| s.len()).max().unwrap_or(0);
    let (row, kt) = work.split_at_mut(longest.next_multiple_of(LANES));
    let mut start = 0;
    for s in seqs {
        let len = s.len();
        let padded = len.next_multiple_of(LANES);
        let kt = &mut kt[..d * padded];
        kt.fill(0.0);
        for head in 0..heads {
            let (qo, ko, vo) = (head * d, h + head * d, 2 * h + head * d);
            // kt[c·padded + j] = K[j][c] · scale
            for j in 0..len {
                let k = &qkv[(start + j) * stride + ko..][..d];
                for (c, x) in k.iter().enumerate() {
                    kt[c * padded + j] = x * scale;
                }
            }
            for i in 0..len {
                let q = &qkv[(start + i) * stride + qo..][..d];
                let sc = &mut row[..padded];
                for (jb, block) in sc.chunks_exact_mut(LANES).enumerate() {
                    let mut acc = [0f32; LANES];
                    for (c, &qc) in q.iter().enumerate() {
                        let keys = &kt[c * padded + jb * LANES..][..LANES];
                        for l in 0..LANES {
                            acc[l] += qc * keys[l];
                        }
                    }
                    block.copy_from_slice(&acc);
                }
                let sc = &mut sc[..len];
                softmax(sc);
                let out = &mut ctx[(start + i) * h + qo..][..d];
                let mut blocks = out.chunks_exact_mut(LANES);
                for (cb, block) in blocks.by_ref().enumerate() {
                    let mut acc = [0f32; LANES];
                    for (j, p) in sc.iter().enumerate() {
                        let v = &qkv[(start + j) * stride + vo + cb * LANES..][..LANES];
                        for l in 0..LANES {
                            acc[l] += p * v[l];
                        }
                    }
                    block.copy_from_slice(&acc);
                }
                // Head widths that are not a multiple of eight: the last few dimensions.
                let done = d - blocks.into_remainder().len();
                for c in done..d {
                    ctx[(start + i) * h + qo + c] = sc
                        .iter()
                        .enumerate()
                        .map(|(j, p)| p * qkv[(start + j) * stride + vo + c])
                        .sum();
                }
            }
        }
        start += len;
    }
}
