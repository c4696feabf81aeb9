/// Which keys each query may see, shared by all heads: an additive bias [items, Lq, Lk] holding 0
/// (visible) or −∞ (hidden). A query that sees no key gets a zero output and no gradient.
public struct AttentionMask: @unchecked Sendable {
  public let items: Int, queries: Int, keys: Int
  let bias: Tensor

  /// From a visibility predicate.
  public init(items: Int, queries: Int, keys: Int, visible: (Int, Int, Int) -> Bool) {
    self.items = items; self.queries = queries; self.keys = keys
    bias = Tensor(uninitialized: [items, queries, keys])
    let p = bias.pointer
    for b in 0..<items {
      for i in 0..<queries {
        for j in 0..<keys { p[(b * queries + i) * keys + j] = visible(b, i, j) ? 0 : -.infinity }
      }
    }
  }

  /// Training-mode partition masks: query i of item b sees key j iff the groups are equal
  /// (`sameGroup`, encoder self-attention) or different (decoder cross-attention).
  public static func groups(_ groups: TokenTensor, sameGroup: Bool) -> AttentionMask {
    let b = groups.shape[0], l = groups.shape[1]
    return groups.values.withUnsafeBufferPointer { gp in
      AttentionMask(items: b, queries: l, keys: l) { item, i, j in
        (gp[item * l + i] == gp[item * l + j]) == sameGroup
      }
    }
  }

  /// Packed inference: key j of item b is real iff j < lengths[b] (right padding).
  public static func keyLengths(_ lengths: [Int], queries: Int, keys: Int) -> AttentionMask {
    AttentionMask(items: lengths.count, queries: queries, keys: keys) { b, _, j in j < lengths[b] }
  }
}

/// Where one operand of attention lives: columns [column, column + D) of `source` [B, L, width].
/// Self-attention reads q, k and v out of one qkv projection without copying.
public struct AttentionOperand {
  public let source: Var
  public let column: Int
  public init(_ source: Var, column: Int = 0) { self.source = source; self.column = column }
  var width: Int { source.shape.last! }
}

extension Graph {
  /// Multi-head scaled dot-product attention with rotary embedding on queries and keys:
  /// out[b, i] = Σ_j softmax_j(rot(q_i)·rot(k_j)/√dh + mask) v_j, per head, heads laid out
  /// head-major in the feature axis. q [B, Lq, ·], k and v [B, Lk, ·]; output [B, Lq, D].
  /// Positions are those of the tokens in the final sequence (packed tokens keep theirs);
  /// nil positions skip the rotation.
  ///
  /// One fused kernel: per (item, head) two products and a masked softmax in cache, items spread
  /// over the cores; backward recomputes nothing but the rotations' inverse.
  public func attention(q: AttentionOperand, k: AttentionOperand, v: AttentionOperand, heads: Int, width d: Int,
                        queryPositions: TokenTensor?, keyPositions: TokenTensor?, mask: AttentionMask?) -> Var {
    let b = q.source.shape[0], lq = q.source.shape[1], lk = k.source.shape[1]
    precondition(k.source.shape[0] == b && v.source.shape[0] == b && v.source.shape[1] == lk,
                 "attention: q \(q.source.shape), k \(k.source.shape), v \(v.source.shape)")
    precondition(d % heads == 0 && q.column + d <= q.width && k.column + d <= k.width && v.column + d <= v.width,
                 "attention: width \(d) / \(heads) heads does not fit the operands")
    if let mask {
      precondition(mask.items == b && mask.queries == lq && mask.keys == lk,
                   "attention: mask [\(mask.items), \(mask.queries), \(mask.keys)] for [\(b), \(lq), \(lk)]")
    }
    if let queryPositions { precondition(queryPositions.count == b * lq, "attention: query positions \(queryPositions.shape)") }
    if let keyPositions { precondition(keyPositions.count == b * lk, "attention: key positions \(keyPositions.shape)") }
    let dh = d / heads
    let scale = 1 / Float(dh).squareRoot()
    let prec = precision
    let keep = recording && [q.source, k.source, v.source].contains { $0.needsGradient }
    let (rq, rk) = rotated(q: q, k: k, heads: heads, width: d, queryPositions: queryPositions, keyPositions: keyPositions)

    if !keep && prec == .float32 {
      return Var(value: inferenceAttention(rq: rq, rk: rk, v: v, batch: b, queries: lq, keys: lk, heads: heads, width: d,
                                           scale: scale, mask: mask), id: -1)
    }

    let out = Tensor(uninitialized: [b, lq, d])
    // Probabilities: kept whole for backward when recording. Otherwise each work item is a block of
    // query rows whose scores fit in L2 (a 1024×1024 score matrix is 4 MB; a 128-row block 0.5 MB),
    // in one scratch matrix per worker.
    let blockRows = keep ? lq : max(16, min(lq, (1 << 17) / max(lk, 1)))
    let blocks = (lq + blockRows - 1) / blockRows
    let probs = keep ? Tensor(uninitialized: [b, heads, lq, lk]) : Tensor(uninitialized: [Parallel.workers, blockRows, lk])
    let vw = v.width
    let vp = v.source.value.pointer + v.column, rqp = rq.pointer, rkp = rk.pointer, op = out.pointer
    let biasp = mask?.bias.pointer
    Parallel.forEachItem(b * heads * blocks) { item in
      let block = item % blocks, bh = item / blocks
      let bi = bh / heads, h = bh % heads
      let q0 = block * blockRows, rows = min(blockRows, lq - q0)
      let p = keep ? probs.pointer + bh * lq * lk : probs.pointer + (item % Parallel.workers) * blockRows * lk
      sgemm(transA: false, transB: true, m: rows, n: lk, k: dh, alpha: scale, a: rqp + (bi * lq + q0) * d + h * dh, lda: d,
            b: rkp + bi * lk * d + h * dh, ldb: d, beta: 0, c: p, ldc: lk, precision: prec, insideItemRegion: true)
      for i in 0..<rows {
        let row = p + i * lk
        if let biasp { mapVec2(lk, row, biasp + (bi * lq + q0 + i) * lk, row) { $0 + $1 } }
        softmaxRow(row, row, lk, log: false)
      }
      sgemm(transA: false, transB: false, m: rows, n: dh, k: lk, a: p, lda: lk, b: vp + bi * lk * vw + h * dh,
            ldb: vw, beta: 0, c: op + (bi * lq + q0) * d + h * dh, ldc: d, precision: prec, insideItemRegion: true)
    }
    guard keep else { return Var(value: out, id: -1) }

    return record(out, q.source, k.source, v.source) { g, dout in
      // Pointers are re-derived from captured tensors: a pointer alone does not keep memory alive.
      let dop = dout.pointer, rqp = rq.pointer, rkp = rk.pointer
      let vp = v.source.value.pointer + v.column
      // Gradients w.r.t. the rotated q/k and v, [B, L, D] each.
      let drq = Tensor(uninitialized: [b, lq, d]), drk = Tensor(uninitialized: [b, lk, d])
      let dv = Tensor(uninitialized: [b, lk, d])
      let scratch = Tensor(uninitialized: [Parallel.workers, lq, lk])
      let rowDot = Tensor(uninitialized: [Parallel.workers, lq])
      Parallel.forEachItem(b * heads) { item in
        let bi = item / heads, h = item % heads, w = item % Parallel.workers
        let p = probs.pointer + item * lq * lk
        let dp = scratch.pointer + w * lq * lk
        let dO = dop + bi * lq * d + h * dh
        let vbh = vp + bi * lk * vw + h * dh
        // dP = dO Vᵀ
        sgemm(transA: false, transB: true, m: lq, n: lk, k: dh, a: dO, lda: d, b: vbh, ldb: vw, beta: 0, c: dp, ldc: lk, precision: prec, insideItemRegion: true)
        // δ_i = Σ_j dP_ij P_ij, from the very P and dP used below, so that each row of dS sums to
        // zero up to rounding (dO·O is the same in exact arithmetic but loses ~1e-4 on peaked rows).
        let delta = rowDot.pointer + w * lq
        for i in 0..<lq { delta[i] = dotVec(lk, dp + i * lk, p + i * lk) }
        // dV = Pᵀ dO
        sgemm(transA: true, transB: false, m: lk, n: dh, k: lq, a: p, lda: lk, b: dO, ldb: d, beta: 0,
              c: dv.pointer + bi * lk * d + h * dh, ldc: d, precision: prec, insideItemRegion: true)
        // dS = P ⊙ (dP − δ)
        for i in 0..<lq {
          let dv = Vec(repeating: delta[i])
          mapVec2(lk, dp + i * lk, p + i * lk, dp + i * lk) { ($0 - dv) * $1 }
        }
        // d rot(q) = dS rot(k) / √dh ;  d rot(k) = dSᵀ rot(q) / √dh
        sgemm(transA: false, transB: false, m: lq, n: dh, k: lk, alpha: scale, a: dp, lda: lk,
              b: rkp + bi * lk * d + h * dh, ldb: d, beta: 0, c: drq.pointer + bi * lq * d + h * dh, ldc: d, precision: prec, insideItemRegion: true)
        sgemm(transA: true, transB: false, m: lk, n: dh, k: lq, alpha: scale, a: dp, lda: lk,
              b: rqp + bi * lq * d + h * dh, ldb: d, beta: 0, c: drk.pointer + bi * lk * d + h * dh, ldc: d, precision: prec, insideItemRegion: true)
      }
      // Undo the rotations and hand each gradient to the columns of its source.
      let dq = Tensor(uninitialized: [b, lq, d]), dk = Tensor(uninitialized: [b, lk, d])
      rotateRows(drq.pointer, srcWidth: d, column: 0, into: dq.pointer, tokens: b * lq, heads: heads, headDim: dh,
                 positions: queryPositions?.values, inverse: true)
      rotateRows(drk.pointer, srcWidth: d, column: 0, into: dk.pointer, tokens: b * lk, heads: heads, headDim: dh,
                 positions: keyPositions?.values, inverse: true)
      g.accumulateColumns([(q, dq), (k, dk), (v, dv)], width: d)
    }
  }

  /// Rotated copies of q and k, [B, Lq, D] and [B, Lk, D].
  private func rotated(q: AttentionOperand, k: AttentionOperand, heads: Int, width d: Int, queryPositions: TokenTensor?,
                       keyPositions: TokenTensor?) -> (Tensor, Tensor) {
    let b = q.source.shape[0], lq = q.source.shape[1], lk = k.source.shape[1], dh = d / heads
    let rq = Tensor(uninitialized: [b, lq, d]), rk = Tensor(uninitialized: [b, lk, d])
    rotateRows(q.source.value.pointer, srcWidth: q.width, column: q.column, into: rq.pointer, tokens: b * lq,
               heads: heads, headDim: dh, positions: queryPositions?.values, inverse: false)
    rotateRows(k.source.value.pointer, srcWidth: k.width, column: k.column, into: rk.pointer, tokens: b * lk,
               heads: heads, headDim: dh, positions: keyPositions?.values, inverse: false)
    return (rq, rk)
  }

  /// Inference only: `attention` with values that are a linear map of the key tokens' inputs,
  /// v_j = W_v u_j (+ b_v), computed without projecting any key token's value. Each query's weights
  /// over the keys sum to one, so per head h
  ///
  ///   Σ_j p_hj v_hj = W_v,h (Σ_j p_hj u_j) + b_v,h:
  ///
  /// the kernel forms the probability-weighted sum of u per (query, head), Lq·h·Lk·Din multiply-adds,
  /// and projects it, Lq·D·Din, where projecting the values costs Lk·D·Din (+ Lq·Lk·D for P·V). It
  /// pays when h·Lq < D + Lq: a few queries over many keys, the sampler's decoder (8 queries, 4 heads,
  /// D = 256: an eighth of the products). The sums are taken in another order than `attention`'s, so
  /// results agree up to rounding. u [B, Lk, Din]; `valueWeight` [D, Din], head-major rows as the
  /// value half of a k|v projection; `valueBias` [D]. A query that sees no key gets zeros, as in
  /// `attention`.
  public func attention(q: AttentionOperand, k: AttentionOperand, valueInputs u: Var, valueWeight: Tensor,
                        valueBias: Tensor?, heads: Int, width d: Int, queryPositions: TokenTensor?,
                        keyPositions: TokenTensor?, mask: AttentionMask?) -> Var {
    let b = q.source.shape[0], lq = q.source.shape[1], lk = k.source.shape[1], din = u.shape.last!
    precondition(!recording, "attention over value inputs is inference-only (no backward)")
    precondition(k.source.shape[0] == b && u.shape == [b, lk, din], "attention: q \(q.source.shape), k \(k.source.shape), inputs \(u.shape)")
    precondition(d % heads == 0 && q.column + d <= q.width && k.column + d <= k.width,
                 "attention: width \(d) / \(heads) heads does not fit the operands")
    precondition(valueWeight.shape == [d, din] && (valueBias == nil || valueBias!.shape == [d]),
                 "attention: value weight \(valueWeight.shape), bias \(valueBias?.shape ?? []) for width \(d) over inputs of \(din)")
    if let mask {
      precondition(mask.items == b && mask.queries == lq && mask.keys == lk,
                   "attention: mask [\(mask.items), \(mask.queries), \(mask.keys)] for [\(b), \(lq), \(lk)]")
    }
    let (rq, rk) = rotated(q: q, k: k, heads: heads, width: d, queryPositions: queryPositions, keyPositions: keyPositions)
    return Var(value: inferenceAttentionOverInputs(rq: rq, rk: rk, inputs: u.value, valueWeight: valueWeight,
                                                   valueBias: valueBias, batch: b, queries: lq, keys: lk, heads: heads,
                                                   width: d, scale: 1 / Float(d / heads).squareRoot(), mask: mask), id: -1)
  }

  /// Accumulates [B, L, D] gradients into column blocks of their sources, building one gradient
  /// per distinct source (a fused qkv gets a single [B, L, 3D] tensor).
  func accumulateColumns(_ parts: [(AttentionOperand, Tensor)], width d: Int) {
    var done = Set<Int>()
    for (operand, _) in parts where operand.source.needsGradient && !done.contains(operand.source.id) {
      let src = operand.source
      done.insert(src.id)
      let mine = parts.filter { $0.0.source.id == src.id }
      let w = operand.width
      if mine.count == 1 && mine[0].0.column == 0 && w == d {
        accumulate(src, mine[0].1, owned: true)
        continue
      }
      // Operands that tile the source's columns exactly are copied in; anything else is added.
      let exact = Set(mine.flatMap { $0.0.column..<($0.0.column + d) }).count == w && mine.count * d == w
      let grad = exact ? Tensor(uninitialized: src.shape) : Tensor.zeros(src.shape)
      let rows = grad.count / w
      let gp = grad.pointer
      for (op, t) in mine {
        let tp = t.pointer, col = op.column
        Parallel.forRange(rows, grain: max(1, 4096 / d)) { range in
          for r in range {
            if exact { (gp + r * w + col).update(from: tp + r * d, count: d) }
            else { axpyVec(d, 1, tp + r * d, gp + r * w + col) }
          }
        }
      }
      accumulate(src, grad, owned: true)
    }
  }
}

/// Attention without probabilities kept (inference): keys and values packed once per (item, head)
/// into panels, then per block of query rows the register-blocked score tiles, the masked
/// exponentials (unnormalised) and the value tiles, which scale each output row by its reciprocal
/// sum (`AttentionKernels.swift`), blocks spread over the workers. rq, rk: rotated
/// q and k [B, L, D].
func inferenceAttention(rq: Tensor, rk: Tensor, v: AttentionOperand, batch b: Int, queries lq: Int, keys lk: Int,
                        heads: Int, width d: Int, scale: Float, mask: AttentionMask?) -> Tensor {
  let dh = d / heads
  let keyPanels = (lk + 15) / 16, valuePanels = (dh + 15) / 16
  let lds = keyPanels * 16
  let kpSize = keyPanels * 16 * dh, vpSize = valuePanels * 16 * lk
  let packed = Tensor(uninitialized: [b * heads, kpSize + vpSize])
  let vw = v.width
  let vsrc = v.source.value.pointer + v.column, rkp = rk.pointer, packedp = packed.pointer
  Parallel.forEachItem(b * heads) { item in
    let bi = item / heads, h = item % heads
    let dst = packedp + item * (kpSize + vpSize)
    packKeyPanels(rkp + bi * lk * d + h * dh, ldk: d, keys: lk, headDim: dh, into: dst)
    packValuePanels(vsrc + bi * lk * vw + h * dh, ldv: vw, keys: lk, headDim: dh, into: dst + kpSize)
  }
  // Blocks of query rows (a multiple of the 6-row tile) whose scores stay in L2 (≤ 128 KB).
  let blockRows = min((lq + 5) / 6 * 6, max(6, (1 << 15) / lds / 6 * 6))
  let blocks = (lq + blockRows - 1) / blockRows
  // Per worker: the block's scores, then the reciprocal sums of their exponentials.
  let scores = Tensor(uninitialized: [Parallel.workers, blockRows * lds + blockRows])
  let out = Tensor(uninitialized: [b, lq, d])
  let rqp = rq.pointer, sp = scores.pointer, op = out.pointer
  let biasp = mask?.bias.pointer
  Parallel.forEachItem(b * heads * blocks) { item in
    let block = item % blocks, bh = item / blocks
    let bi = bh / heads, h = bh % heads
    let q0 = block * blockRows, rows = min(blockRows, lq - q0)
    let s = sp + (item % Parallel.workers) * (blockRows * lds + blockRows)
    let inverseSums = s + blockRows * lds
    let kp = UnsafePointer(packedp + bh * (kpSize + vpSize)), vp = kp + kpSize
    let qb = rqp + (bi * lq + q0) * d + h * dh
    maskedExponentials(rows: rows, qb, ldq: d, keyPanels: keyPanels, kp, headDim: dh, scale: scale, keys: lk,
                       mask: biasp.map { $0 + (bi * lq + q0) * lk }, s, lds: lds, inverseSums: inverseSums)
    let ob = op + (bi * lq + q0) * d + h * dh
    var r = 0
    while r < rows {
      attentionValueTile(rows: min(6, rows - r), s + r * lds, ldp: lds, keys: lk, vp, headDim: dh,
                         rowScale: inverseSums + r, ob + r * d, ldo: d)
      r += 6
    }
  }
  return out
}

/// The first half of both inference kernels, for one block of `rows` query rows of one (item, head):
/// scores against every key panel (the score tiles), the additive mask rows (`lk` apart) when
/// given, then each row's unnormalised exponentials in place and its reciprocal sum.
@inline(__always)
func maskedExponentials(rows: Int, _ q: UnsafePointer<Float>, ldq: Int, keyPanels: Int, _ kp: UnsafePointer<Float>,
                        headDim dh: Int, scale: Float, keys lk: Int, mask: UnsafePointer<Float>?,
                        _ s: UnsafeMutablePointer<Float>, lds: Int, inverseSums: UnsafeMutablePointer<Float>) {
  var r = 0
  while r < rows {
    attentionScoreTile(rows: min(6, rows - r), q + r * ldq, ldq: ldq, panels: keyPanels, kp, headDim: dh, scale: scale,
                       s + r * lds, lds: lds)
    r += 6
  }
  for i in 0..<rows {
    let row = s + i * lds
    if let mask { mapVec2(lk, row, mask + i * lk, row) { $0 + $1 } }
    inverseSums[i] = unnormalizedSoftmaxRow(row, row, lk)
  }
}

/// `Graph.attention(valueInputs:)`'s kernel: per (item, head) and block of query rows, the score
/// tiles and masked exponentials of `inferenceAttention`, then c = P·u over the item's inputs packed
/// once in 16-column panels (the value tiles, `Din` wide), then out_h = c·W_v,hᵀ (+ b_v,h) row by row.
func inferenceAttentionOverInputs(rq: Tensor, rk: Tensor, inputs u: Tensor, valueWeight: Tensor, valueBias: Tensor?,
                                  batch b: Int, queries lq: Int, keys lk: Int, heads: Int, width d: Int, scale: Float,
                                  mask: AttentionMask?) -> Tensor {
  let dh = d / heads, din = u.shape[2]
  let keyPanels = (lk + 15) / 16, lds = keyPanels * 16, inputPanels = (din + 15) / 16
  let kpSize = keyPanels * 16 * dh, upSize = inputPanels * 16 * lk
  let packedKeys = Tensor(uninitialized: [b * heads, kpSize]), packedInputs = Tensor(uninitialized: [b, upSize])
  let rkp = rk.pointer, up = u.pointer, pkp = packedKeys.pointer, pip = packedInputs.pointer
  Parallel.forEachItem(b * heads) { item in
    let bi = item / heads, h = item % heads
    packKeyPanels(rkp + bi * lk * d + h * dh, ldk: d, keys: lk, headDim: dh, into: pkp + item * kpSize)
  }
  Parallel.forEachItem(b * inputPanels) { item in
    let bi = item / inputPanels, c = item % inputPanels
    packValuePanels(up + bi * lk * din + c * 16, ldv: din, keys: lk, headDim: min(16, din - c * 16),
                    into: pip + bi * upSize + c * lk * 16)
  }
  let blockRows = min((lq + 5) / 6 * 6, max(6, (1 << 15) / lds / 6 * 6))
  let blocks = (lq + blockRows - 1) / blockRows
  // Per worker: the block's scores, the reciprocal sums, and the weighted inputs c.
  let scratchSize = blockRows * lds + blockRows + blockRows * din
  let scratch = Tensor(uninitialized: [Parallel.workers, scratchSize])
  let out = Tensor(uninitialized: [b, lq, d])
  let rqp = rq.pointer, sp = scratch.pointer, op = out.pointer, wp = valueWeight.pointer
  let bp = valueBias?.pointer
  let biasp = mask?.bias.pointer
  Parallel.forEachItem(b * heads * blocks) { item in
    let block = item % blocks, bh = item / blocks
    let bi = bh / heads, h = bh % heads
    let q0 = block * blockRows, rows = min(blockRows, lq - q0)
    let s = sp + (item % Parallel.workers) * scratchSize
    let inverseSums = s + blockRows * lds, c = inverseSums + blockRows
    let kp = UnsafePointer(pkp + bh * kpSize), uPanels = UnsafePointer(pip + bi * upSize)
    let qb = rqp + (bi * lq + q0) * d + h * dh
    maskedExponentials(rows: rows, qb, ldq: d, keyPanels: keyPanels, kp, headDim: dh, scale: scale, keys: lk,
                       mask: biasp.map { $0 + (bi * lq + q0) * lk }, s, lds: lds, inverseSums: inverseSums)
    var r = 0
    while r < rows {
      attentionValueTile(rows: min(6, rows - r), s + r * lds, ldp: lds, keys: lk, uPanels, headDim: din,
                         rowScale: inverseSums + r, c + r * din, ldo: din)
      r += 6
    }
    for i in 0..<rows {
      let o = op + (bi * lq + q0 + i) * d + h * dh
      if inverseSums[i] == 0 {
        o.update(repeating: 0, count: dh)
        continue
      }
      for f in 0..<dh {
        let feature = h * dh + f
        o[f] = dotVec(din, c + i * din, wp + feature * din) + (bp?[feature] ?? 0)
      }
    }
  }
  return out
}
