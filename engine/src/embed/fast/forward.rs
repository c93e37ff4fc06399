//! One forward pass over a batch of token sequences, without padding: every sequence's
//! tokens are stacked as rows, so the dense products (QKV, attention output, FFN) run
//! once over all rows and only attention looks at one sequence at a time.
//! Activations live in per-thread buffers that grow once and are reused. Given a
//! [`Team`], every step is shared by its members: products by column parts (GELU
//! fused into the first FFN product's parts), attention by heads, layer norms by rows.

use super::dense::{Dense, PART};
use super::kernels::{add_layer_norm, dispatch, gelu, has_avx2_fma, layer_norm, softmax};
use super::team::{Team, part};
use super::weights::Weights;
use crate::embed::EmbedError;
use crate::embed::Pooling;
use std::cell::RefCell;
use std::marker::PhantomData;
use std::ops::Range;

/// The shapes and switches of one model's pass.
#[derive(Clone, Copy)]
pub struct Plan {
    pub heads: usize,
    pub eps: f32,
    pub pooling: Pooling,
}

/// Below this many multiply-adds a product stays on the calling thread (a hand-off
/// to a spinning helper costs about a microsecond).
const SPLIT_MIN_MACS: usize = 1 << 16;

/// Below this many rows a layer norm stays on the calling thread.
const SPLIT_MIN_ROWS: usize = 8;

/// Activation buffers of one thread, reused across calls.
#[derive(Default)]
struct Scratch {
    x: Vec<f32>,
    qkv: Vec<f32>,
    ctx: Vec<f32>,
    tmp: Vec<f32>,
    inter: Vec<f32>,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
    /// Attention's working rows, per member (each runs its own heads).
    static ATTENTION: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// Grows a buffer to `len` (never shrinks it: the next call likely needs as much).
fn sized(buf: &mut Vec<f32>, len: usize) -> &mut [f32] {
    if buf.len() < len {
        buf.resize(len, 0.0);
    }
    &mut buf[..len]
}

/// A buffer the members of one step write at the same time, each only its own
/// elements (its columns, heads or rows), none reading what another writes.
struct Shared<'a> {
    ptr: *mut f32,
    len: usize,
    _buf: PhantomData<&'a mut [f32]>,
}

// SAFETY: members only write disjoint elements through it (the contract of `view`), and
// `Team::run` returns only after every member is done, before the buffer is used again.
unsafe impl Sync for Shared<'_> {}

impl<'a> Shared<'a> {
    fn new(buf: &'a mut [f32]) -> Self {
        Self {
            ptr: buf.as_mut_ptr(),
            len: buf.len(),
            _buf: PhantomData,
        }
    }

    /// The whole buffer, for a member whose share is columns interleaved with the
    /// others' (a product's column parts, attention's heads): the kernels index rows
    /// with a stride, so each member's view spans every row although it writes only
    /// its own columns.
    ///
    /// # Safety
    /// Members holding views at the same time must write disjoint elements and read
    /// no element another member writes.
    #[allow(clippy::mut_from_ref)]
    unsafe fn view(&self) -> &mut [f32] {
        // SAFETY: ptr/len come from a live `&'a mut [f32]`; disjointness is the caller's.
        unsafe { std::slice::from_raw_parts_mut(self.ptr, self.len) }
    }

    /// Rows `rows` (of `width` floats) alone, for a member whose share is whole rows:
    /// members given disjoint row ranges get non-overlapping slices.
    ///
    /// # Safety
    /// Members holding row slices at the same time must ask for disjoint ranges.
    #[allow(clippy::mut_from_ref)]
    unsafe fn rows(&self, rows: Range<usize>, width: usize) -> &mut [f32] {
        assert!(rows.start <= rows.end && rows.end * width <= self.len);
        // SAFETY: the range lies inside the live buffer (asserted); disjointness between
        // members is the caller's.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.add(rows.start * width), rows.len() * width) }
    }
}

/// Runs `f(i, n)` for each member `i` of the team's `n`, or `f(0, 1)` here when there
/// is no team or `split` says the step is too small to share.
fn each(team: &mut Option<&mut Team>, split: bool, f: impl Fn(usize, usize) + Sync) {
    match team {
        Some(t) if split && t.size() > 1 => {
            let n = t.size();
            t.run(&|i| f(i, n))
        }
        _ => f(0, 1),
    }
}

/// `out = x · Wᵀ + bias` (then GELU with `then_gelu`), its column parts shared by the team.
fn product(
    team: &mut Option<&mut Team>,
    dense: &Dense,
    out: &mut [f32],
    x: &[f32],
    rows: usize,
    then_gelu: bool,
) {
    let n = dense.out();
    let split = rows * (x.len() / rows.max(1)) * n >= SPLIT_MIN_MACS;
    let out = Shared::new(&mut out[..rows * n]);
    each(team, split, |i, members| {
        let parts = part(dense.parts(), i, members);
        let cols = (parts.start * PART).min(n)..(parts.end * PART).min(n);
        // SAFETY: each member writes only the columns of its own parts (`apply_parts`
        // touches no others — the portable path also reads back its own columns — and
        // GELU below only `cols`); `x` is another buffer.
        let out = unsafe { out.view() };
        dense.apply_parts(out, x, rows, parts);
        if then_gelu {
            for r in 0..rows {
                gelu(&mut out[r * n + cols.start..r * n + cols.end]);
            }
        }
    });
}

/// `x = LayerNorm(x + residual)` with its rows shared by the team.
fn residual_norm(
    team: &mut Option<&mut Team>,
    x: &mut [f32],
    residual: &[f32],
    norm: &(Vec<f32>, Vec<f32>),
    eps: f32,
) {
    let h = norm.0.len();
    let rows = x.len() / h;
    let x = Shared::new(x);
    each(team, rows >= SPLIT_MIN_ROWS, |i, members| {
        let r = part(rows, i, members);
        // SAFETY: members' row ranges are disjoint (`part`).
        let mine = unsafe { x.rows(r.clone(), h) };
        add_layer_norm(mine, &residual[r.start * h..r.end * h], &norm.0, &norm.1, eps);
    });
}

/// Sentence vectors (pooled, not yet normalised) for each token sequence; with a
/// `team`, every step of the pass is shared by its members.
pub fn encode(
    w: &Weights,
    plan: &Plan,
    seqs: &[&[u32]],
    mut team: Option<&mut Team>,
) -> Result<Vec<Vec<f32>>, EmbedError> {
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
    let longest = seqs.iter().map(|s| s.len()).max().unwrap_or(0);
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
            let x = &sc.x[..rows * h];
            let qkv = sized(&mut sc.qkv, rows * 3 * h);
            product(&mut team, &layer.qkv, qkv, x, rows, false);
            let qkv = &sc.qkv[..rows * 3 * h];
            let ctx = Shared::new(sized(&mut sc.ctx, rows * h));
            each(&mut team, true, |i, members| {
                ATTENTION.with(|work| {
                    let mut work = work.borrow_mut();
                    let work = sized(&mut work, attend_work(longest, h, plan.heads));
                    // SAFETY: each member writes only the columns of its own heads.
                    let ctx = unsafe { ctx.view() };
                    attend(qkv, ctx, work, seqs, h, plan.heads, part(plan.heads, i, members));
                })
            });

            let tmp = sized(&mut sc.tmp, rows * h);
            product(&mut team, &layer.attn_out, tmp, &sc.ctx[..rows * h], rows, false);
            residual_norm(&mut team, tmp, x, &layer.attn_norm, plan.eps);
            std::mem::swap(&mut sc.x, &mut sc.tmp);

            let x = &sc.x[..rows * h];
            let inter = sized(&mut sc.inter, rows * layer.ffn_in.out());
            product(&mut team, &layer.ffn_in, inter, x, rows, true);
            let tmp = sized(&mut sc.tmp, rows * h);
            product(
                &mut team,
                &layer.ffn_out,
                tmp,
                &sc.inter[..rows * layer.ffn_in.out()],
                rows,
                false,
            );
            residual_norm(&mut team, tmp, x, &layer.out_norm, plan.eps);
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

/// Scaled dot-product attention of the heads in `only` over each sequence's own tokens
/// (the AVX2+FMA build where the CPU has it). `work` holds one row of scores and
/// one head's keys transposed: `longest · (1 + h / heads)` floats.
fn attend(
    qkv: &[f32],
    ctx: &mut [f32],
    work: &mut [f32],
    seqs: &[&[u32]],
    h: usize,
    heads: usize,
    only: Range<usize>,
) {
    #[cfg(target_arch = "x86_64")]
    if has_avx2_fma() {
        // SAFETY: the CPU has AVX2 and FMA, checked by has_avx2_fma just above.
        return unsafe { attend_avx2(qkv, ctx, work, seqs, h, heads, only) };
    }
    attend_portable(qkv, ctx, work, seqs, h, heads, only)
}

dispatch!(attend_avx2, attend_portable, (qkv: &[f32], ctx: &mut [f32], work: &mut [f32], seqs: &[&[u32]], h: usize, heads: usize, only: Range<usize>));

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
/// Only the heads in `only` are computed (a team member's share); their columns of
/// `ctx` are the only ones written.
#[inline(always)]
fn attend_portable(
    qkv: &[f32],
    ctx: &mut [f32],
    work: &mut [f32],
    seqs: &[&[u32]],
    h: usize,
    heads: usize,
    only: Range<usize>,
) {
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
        for head in only.clone() {
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
