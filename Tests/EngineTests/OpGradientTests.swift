import Engine
import Testing

/// Finite-difference checks of every op's backward.
@Suite struct OpGradientTests {
  /// Few-row products take their own kernel (no packing): the same values as a large batch.
  @Test func fewRowLinearMatchesTheBatchedProduct() {
    let w = randomTensor([300, 70], seed: 50), x = randomTensor([40, 70], seed: 51), bias = randomTensor([300], seed: 52)
    let g = Graph(recording: false)
    let all = g.linear(g.constant(x), g.constant(w), g.constant(bias)).value.toArray()
    for rows in [1, 3, 4, 7, 8] {
      let part = g.linear(g.constant(x.rows(0..<rows)), g.constant(w), g.constant(bias)).value.toArray()
      let worst = zip(part, all.prefix(rows * 300)).map { abs($0 - $1) }.max()!
      #expect(worst < 1e-5, "\(rows) rows: \(worst)")
    }
  }

  /// Linear layers on packed weight panels (inference with fixed weights) against OpenBLAS: row
  /// counts around the 6-row tile and the 48-row block, output sizes that end in a partial panel,
  /// with and without bias, and the fused GELU layer.
  @Test func packedWeightsMatchTheDirectProduct() {
    for (outF, inF) in [(300, 70), (33, 256), (16, 5)] {
      let w = randomTensor([outF, inF], seed: 53), bias = randomTensor([outF], seed: 54)
      let packed = PackedWeights([w])
      for rows in [1, 5, 6, 7, 48, 49, 97, 131, 200] {
        let x = randomTensor([rows, inF], seed: 55)
        let direct = Graph(recording: false), fast = Graph(recording: false)
        fast.packedWeights = packed
        func compare(_ a: Var, _ b: Var, _ what: String) {
          let worst = zip(a.value.toArray(), b.value.toArray()).map { abs($0 - $1) }.max()!
          let scale = a.value.toArray().map { abs($0) }.max()!
          #expect(worst <= 1e-5 * max(scale, 1), "\(what), \(rows)×\(inF) → \(outF): \(worst)")
        }
        compare(direct.linear(direct.constant(x), direct.constant(w), direct.constant(bias)),
                fast.linear(fast.constant(x), fast.constant(w), fast.constant(bias)), "linear + bias")
        compare(direct.linear(direct.constant(x), direct.constant(w)), fast.linear(fast.constant(x), fast.constant(w)), "linear")
        compare(direct.linearGELU(direct.constant(x), direct.constant(w), direct.constant(bias)),
                fast.linearGELU(fast.constant(x), fast.constant(w), fast.constant(bias)), "linear + GELU")
      }
    }
  }

  @Test func linearWithAndWithoutBias() {
    checkGradients([randomTensor([2, 3, 5], seed: 1), randomTensor([4, 5], seed: 2), randomTensor([4], seed: 3)]) { g, v in
      g.linear(v[0], v[1], v[2])
    }
    checkGradients([randomTensor([6, 5], seed: 4), randomTensor([3, 5], seed: 5)]) { g, v in g.linear(v[0], v[1]) }
  }

  @Test(arguments: [(false, false), (true, false), (false, true), (true, true)])
  func matmulTransposes(_ ta: Bool, _ tb: Bool) {
    let a = randomTensor(ta ? [2, 4, 3] : [2, 3, 4], seed: 6)
    let b = randomTensor(tb ? [2, 5, 4] : [2, 4, 5], seed: 7)
    checkGradients([a, b]) { g, v in g.matmul(v[0], v[1], transposeA: ta, transposeB: tb) }
    let shared = randomTensor(tb ? [5, 4] : [4, 5], seed: 8)
    checkGradients([a, shared]) { g, v in g.matmul(v[0], v[1], transposeA: ta, transposeB: tb) }
  }

  @Test func broadcastingArithmetic() {
    let a = randomTensor([2, 3, 4], seed: 9)
    for bShape in [[2, 3, 4], [4], [3, 1], [2, 1, 4], [1]] {
      let b = randomTensor(bShape, seed: 10)
      checkGradients([a, b]) { g, v in g.add(v[0], v[1]) }
      checkGradients([a, b]) { g, v in g.sub(v[0], v[1]) }
      checkGradients([a, b]) { g, v in g.mul(v[0], v[1]) }
      checkGradients([b, a]) { g, v in g.mul(v[0], v[1]) }
    }
    checkGradients([a]) { g, v in g.affine(v[0], scale: -1.5, shift: 0.25) }
  }

  @Test func activations() {
    let x = randomTensor([3, 37], seed: 11, scale: 2)
    checkGradients([x]) { g, v in g.gelu(v[0]) }
    checkGradients([x]) { g, v in g.silu(v[0]) }
    checkGradients([randomTensor([2, 3, 5], seed: 41), randomTensor([7, 5], seed: 42), randomTensor([7], seed: 43)]) { g, v in
      g.linearGELU(v[0], v[1], v[2])
    }
  }

  @Test func layerNormVariants() {
    let x = randomTensor([2, 3, 20], seed: 12), w = randomTensor([20], seed: 13), b = randomTensor([20], seed: 14)
    let shift = randomTensor([2, 20], seed: 15), scale = randomTensor([2, 20], seed: 16, scale: 0.5)
    checkGradients([x, w]) { g, v in g.layerNorm(v[0], weight: v[1]) }
    checkGradients([x, w, b]) { g, v in g.layerNorm(v[0], weight: v[1], bias: v[2]) }
    checkGradients([x, w, shift, scale]) { g, v in g.layerNorm(v[0], weight: v[1], shift: v[2], scale: v[3]) }
    // A width that is not a multiple of the SIMD width.
    let x2 = randomTensor([5, 7], seed: 17), w2 = randomTensor([7], seed: 18)
    checkGradients([x2, w2]) { g, v in g.layerNorm(v[0], weight: v[1]) }
  }

  @Test func gatedResidualWithAndWithoutDropout() {
    let x = randomTensor([2, 3, 18], seed: 19), br = randomTensor([2, 3, 18], seed: 20), gate = randomTensor([2, 18], seed: 21)
    checkGradients([x, br, gate]) { g, v in g.gatedResidual(v[0], v[1], gate: v[2], dropout: 0.1) }
    checkGradients([x, br, gate], training: true) { g, v in g.gatedResidual(v[0], v[1], gate: v[2], dropout: 0.3) }
    checkGradients([x], training: true) { g, v in g.dropout(v[0], p: 0.25) }
  }

  @Test func softmaxFamily() {
    let x = randomTensor([4, 19], seed: 22, scale: 2)
    checkGradients([x]) { g, v in g.softmax(v[0]) }
    checkGradients([x]) { g, v in g.logSoftmax(v[0]) }
  }

  @Test func embeddingScatterAdds() {
    let table = randomTensor([7, 5], seed: 23)
    let ids = TokenTensor(shape: [2, 4], values: [1, 3, 1, 6, 0, 0, 2, 1])
    checkGradients([table]) { g, v in g.embedding(v[0], ids) }
  }

  @Test func shapeOps() {
    let x = randomTensor([2, 3, 4], seed: 24)
    checkGradients([x]) { g, v in g.reshape(v[0], [6, 4]) }
    checkGradients([x]) { g, v in g.permute(v[0], [2, 0, 1]) }
    checkGradients([x]) { g, v in g.transpose(v[0], 1, 2) }
    checkGradients([x, randomTensor([2, 2, 4], seed: 25)]) { g, v in g.concat([v[0], v[1]], axis: 1) }
    checkGradients([x]) { g, v in
      let parts = g.split(v[0], sizes: [1, 3], axis: 2)
      return g.concat([g.affine(parts[1], scale: 2), parts[0]], axis: 2)
    }
    let index = TokenTensor(shape: [2, 3], values: [2, 0, 2, 1, 1, 0])
    checkGradients([x]) { g, v in g.gatherRows(v[0], index) }
    checkGradients([x]) { g, v in g.scatterRows(v[0], TokenTensor(shape: [2, 3], values: [4, 0, 2, 1, 3, 0]), length: 5) }
    checkGradients([randomTensor([1, 3, 4], seed: 32)]) { g, v in g.repeatBatch(v[0], 3) }
    checkGradients([x]) { g, v in g.selectRows(v[0], [5, 0, 5, 2]) }
    checkGradients([x]) { g, v in g.sum(v[0]) }
    checkGradients([x]) { g, v in g.mean(v[0]) }
    checkGradients([x]) { g, v in g.sum(v[0], axis: 1) }
  }

  @Test(arguments: Divergence.allCases, TailTreatment.allCases)
  func distillationDivergences(_ kind: Divergence, _ tail: TailTreatment) {
    // 3 positions over V = 7 (mask 6); targets: top-3 with a tail, one exact, one with padding.
    let logits = randomTensor([3, 7], seed: 44, scale: 1.5)
    let targets = SparseDistributions(rows: 3, k: 3, ids: [0, 2, 5, 1, 0, 3, 4, -1, -1],
                              logProbs: [-0.5, -1.5, -2.5, -0.3, -2.0, -2.2, -0.05, 0, 0],
                              tailLogMass: [-1.7, -3.0, -3.0])
    for normalization in MaskNormalization.allCases {
      // TV and log-L1 have kinks; their FD check stays away from them with a small step.
      checkGradients([logits], step: kind == .totalVariation || kind == .logL1 ? 1e-3 : 1e-2) { g, v in
        g.distillationLoss(v[0], targets: targets, divergence: kind, mask: 6, normalization: normalization, tail: tail)
      }
    }
  }

  /// The on-policy losses: the expected score under the student and the soft cross-entropy.
  @Test func onPolicyLosses() {
    let logits = randomTensor([3, 7], seed: 45, scale: 1.5)
    let scores = randomTensor([3, 7], seed: 46, scale: 2)
    var weights = randomTensor([3, 7], seed: 47).toArray().map { abs($0) }
    weights[2] = 0  // a zero weight, and the mask column (6) holds a value that must not count
    let targets = Tensor(shape: [3, 7], values: weights)
    checkGradients([logits]) { g, v in g.expectedScore(v[0], scores: scores, mask: 6) }
    checkGradients([logits]) { g, v in g.softCrossEntropy(v[0], targets: targets, mask: 6) }
  }

  @Test func rotaryAtArbitraryPositions() {
    let x = randomTensor([2, 3, 16], seed: 26)
    let pos = TokenTensor(shape: [2, 3], values: [0, 7, 3, 1000, 2, 5])
    checkGradients([x]) { g, v in g.rotary(v[0], positions: pos, heads: 2) }
  }

  @Test func selfAttentionFromFusedQKV() {
    let (b, l, d, h) = (2, 5, 16, 2)
    let qkv = randomTensor([b, l, 3 * d], seed: 27)
    let groups = TokenTensor(shape: [b, l], values: [0, 1, 1, 0, 1, 1, 1, 1, 1, 1])
    let pos = TokenTensor(shape: [b, l], values: (0..<Int32(b * l)).map { $0 % Int32(l) })
    for mask in [nil, AttentionMask.groups(groups, sameGroup: true)] {
      checkGradients([qkv]) { g, v in
        g.attention(q: AttentionOperand(v[0], column: 0), k: AttentionOperand(v[0], column: d),
                    v: AttentionOperand(v[0], column: 2 * d), heads: h, width: d,
                    queryPositions: pos, keyPositions: pos, mask: mask)
      }
    }
  }

  @Test func crossAttentionWithEmptyRowsAndPadding() {
    let (b, lq, lk, d, h) = (2, 3, 4, 8, 2)
    let q = randomTensor([b, lq, d], seed: 28), kv = randomTensor([b, lk, 2 * d], seed: 29)
    let qp = TokenTensor(shape: [b, lq], values: [5, 1, 9, 2, 3, 4])
    let kp = TokenTensor(shape: [b, lk], values: [0, 2, 3, 4, 0, 1, 5, 6])
    let mask = AttentionMask.keyLengths([3, 0], queries: lq, keys: lk)  // item 1 sees nothing
    checkGradients([q, kv]) { g, v in
      g.attention(q: AttentionOperand(v[0]), k: AttentionOperand(v[1], column: 0), v: AttentionOperand(v[1], column: d),
                  heads: h, width: d, queryPositions: qp, keyPositions: kp, mask: mask)
    }
    // No NaN, and zeros for queries with no visible key.
    let g = Graph(recording: false)
    let out = g.attention(q: AttentionOperand(g.constant(q)), k: AttentionOperand(g.constant(kv), column: 0),
                          v: AttentionOperand(g.constant(kv), column: d), heads: h, width: d,
                          queryPositions: qp, keyPositions: kp, mask: mask).value.toArray()
    #expect(out.allSatisfy { $0.isFinite })
    #expect(out[(lq * d)...].allSatisfy { $0 == 0 })
  }

  /// Inference attention (own register-blocked kernels, no probabilities kept) against the path
  /// that keeps them for backward (OpenBLAS products): odd head sizes, query counts that are not a
  /// multiple of the 6-row tile, key counts that are not a multiple of the 16-key panel, several
  /// query blocks, padded keys and a single key.
  @Test(arguments: [(2, 170, 203, 3, 20), (1, 8, 1, 4, 64), (3, 13, 37, 2, 16), (1, 700, 90, 1, 6)])
  func inferenceAttentionMatchesTheRecordedPath(_ b: Int, _ lq: Int, _ lk: Int, _ heads: Int, _ dh: Int) {
    let d = heads * dh
    let q = randomTensor([b, lq, d], seed: 60), kv = randomTensor([b, lk, 2 * d], seed: 61, scale: 2)
    let qp = TokenTensor(shape: [b, lq], values: (0..<Int32(b * lq)).map { ($0 * 7) % 1000 })
    let kp = TokenTensor(shape: [b, lk], values: (0..<Int32(b * lk)).map { ($0 * 3) % 1000 })
    let lengths = (0..<b).map { $0 == 1 ? max(1, lk / 2) : lk }
    for mask in [nil, AttentionMask.keyLengths(lengths, queries: lq, keys: lk)] {
      func run(_ g: Graph) -> [Float] {
        let qv = g.recording ? g.input(q) : g.constant(q)
        return g.attention(q: AttentionOperand(qv), k: AttentionOperand(g.constant(kv), column: 0),
                           v: AttentionOperand(g.constant(kv), column: d), heads: heads, width: d,
                           queryPositions: qp, keyPositions: kp, mask: mask).value.toArray()
      }
      let fast = run(Graph(recording: false)), kept = run(Graph())
      let scale = kept.map { abs($0) }.max()!
      let worst = zip(fast, kept).map { abs($0 - $1) }.max()!
      #expect(worst / scale < 1e-5, "[\(b), \(lq), \(lk)], \(heads) × \(dh): relative difference \(worst / scale)")
    }
  }

  /// Attention over value inputs (values applied after the weights: W_v (Σ p u) + b_v) against
  /// attention over the projected values u W_vᵀ + b_v: several heads and query blocks, keys off the
  /// 16-key panel, inputs wider and narrower than the width, padded keys, a row that sees no key
  /// (zeros, not the bias), with and without a bias.
  @Test(arguments: [(2, 8, 203, 4, 16, 48), (1, 13, 37, 2, 8, 20), (3, 70, 90, 1, 6, 6), (1, 1, 1, 4, 4, 16)])
  func attentionOverValueInputsMatchesProjectedValues(_ b: Int, _ lq: Int, _ lk: Int, _ heads: Int, _ dh: Int, _ din: Int) {
    let d = heads * dh
    let q = randomTensor([b, lq, d], seed: 70), k = randomTensor([b, lk, d], seed: 71, scale: 2)
    let u = randomTensor([b, lk, din], seed: 72), w = randomTensor([d, din], seed: 73), bias = randomTensor([d], seed: 74)
    let qp = TokenTensor(shape: [b, lq], values: (0..<Int32(b * lq)).map { ($0 * 5) % 1000 })
    let kp = TokenTensor(shape: [b, lk], values: (0..<Int32(b * lk)).map { ($0 * 3) % 1000 })
    let lengths = (0..<b).map { $0 == 1 ? max(1, lk / 3) : ($0 == 2 ? 0 : lk) }
    for mask in [nil, AttentionMask.keyLengths(lengths, queries: lq, keys: lk)] {
      for withBias in [false, true] {
        let g = Graph(recording: false)
        let values = g.linear(g.constant(u), g.constant(w), withBias ? g.constant(bias) : nil)
        let projected = g.attention(q: AttentionOperand(g.constant(q)), k: AttentionOperand(g.constant(k)),
                                    v: AttentionOperand(values), heads: heads, width: d,
                                    queryPositions: qp, keyPositions: kp, mask: mask).value.toArray()
        let folded = g.attention(q: AttentionOperand(g.constant(q)), k: AttentionOperand(g.constant(k)),
                                 valueInputs: g.constant(u), valueWeight: w, valueBias: withBias ? bias : nil,
                                 heads: heads, width: d, queryPositions: qp, keyPositions: kp, mask: mask).value.toArray()
        let scale = projected.map { abs($0) }.max()!
        let worst = zip(folded, projected).map { abs($0 - $1) }.max()!
        #expect(worst / scale < 1e-5, "[\(b), \(lq), \(lk)], \(heads) × \(dh), inputs \(din): relative difference \(worst / scale)")
        if mask != nil && b > 2 { #expect(folded[(2 * lq * d)..<(3 * lq * d)].allSatisfy { $0 == 0 }, "a row that sees no key") }
      }
    }
  }

  @Test func segmentReductions() {
    let x = randomTensor([2, 5, 6], seed: 30)
    let seg = TokenTensor(shape: [2, 5], values: [0, 1, 1, 0, -1, 1, 1, 1, -1, 1])  // item 1: segment 0 empty
    checkGradients([x]) { g, v in g.segmentReduce(v[0], segments: seg, count: 2, .mean) }
    checkGradients([x]) { g, v in g.segmentReduce(v[0], segments: seg, count: 2, .logsumexp) }
    let g = Graph(recording: false)
    let out = g.segmentReduce(g.constant(x), segments: seg, count: 2, .logsumexp).value.toArray()
    #expect(out[12..<18].allSatisfy { $0 == 0 }, "an empty group's logsumexp counts as 0")
  }

  @Test func weightedLogLikelihood() {
    let logits = randomTensor([5, 9], seed: 31, scale: 2)
    let targets: [Int32] = [0, 3, 8, 2, 5], weights: [Float] = [0.5, -1, 0, 2, 0.25]
    checkGradients([logits]) { g, v in
      g.weightedLogLikelihood(v[0], targets: targets, weights: weights, excluded: 7).total
    }
    // Against a direct computation.
    let g = Graph(recording: false)
    let ll = g.weightedLogLikelihood(g.constant(logits), targets: targets, weights: weights, excluded: 7)
    let lv = logits.toArray()
    for i in 0..<5 where weights[i] != 0 {
      let row = Array(lv[(i * 9)..<(i * 9 + 9)])
      let z = log((0..<9).filter { $0 != 7 }.map { exp(Double(row[$0])) }.reduce(0, +))
      #expect(abs(Double(ll.rowLogProbs[i]) - (Double(row[Int(targets[i])]) - z)) < 1e-5)
    }
  }
}

import Foundation
