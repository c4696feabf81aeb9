import Foundation

/// Distributions over a vocabulary stored sparsely: per row the top-K token ids with their
/// log-probabilities and the log of the remaining mass (the tail). With K ≥ V − 1 (every token but
/// the mask) the distribution is exact and the tail is −∞.
public struct SparseDistributions: Sendable, Equatable {
  public var rows: Int
  public var k: Int
  /// [rows, k]; −1 pads a row whose distribution has fewer than k tokens.
  public var ids: [Int32]
  /// [rows, k]
  public var logProbs: [Float]
  /// [rows]
  public var tailLogMass: [Float]

  public init(rows: Int, k: Int, ids: [Int32], logProbs: [Float], tailLogMass: [Float]) {
    precondition(ids.count == rows * k && logProbs.count == rows * k && tailLogMass.count == rows,
                 "SparseDistributions: \(rows) rows × \(k) with \(ids.count) ids, \(logProbs.count) log-probs, \(tailLogMass.count) tails")
    self.rows = rows; self.k = k; self.ids = ids; self.logProbs = logProbs; self.tailLogMass = tailLogMass
  }
}

/// The divergences a student can be matched to its teacher with (SPEC §6), on masked positions.
public enum Divergence: String, Codable, Sendable, CaseIterable {
  /// Σ_v e^{s_v}(s_v − τ_v): the papers' default, the only one found to keep quality as steps shrink.
  case reverseKL = "reverse_kl"
  /// Σ_v e^{τ_v}(τ_v − s_v).
  case forwardKL = "forward_kl"
  /// Mean over all N·V entries of (s_v − τ_v)² on log-probabilities.
  case mse
  /// True total variation ½ Σ_v |e^{s_v} − e^{τ_v}|.
  case totalVariation = "tv"
  /// What the public code calls "tvd": Σ_v |s_v − τ_v| on log-probabilities (named honestly).
  case logL1 = "log_l1"
}

/// How the tokens outside a sparse target's top K are compared.
public enum TailTreatment: String, Codable, Sendable, CaseIterable {
  /// The tail mass spread evenly over the unlisted tokens (the teacher's tail taken as uniform).
  /// Under reverse KL this rewards a student that spreads the tail's mass uniformly, i.e. samples
  /// uniformly random tokens with that probability — harmless at K ≥ V − 1, a risk when K ≪ V.
  case spread
  /// The unlisted tokens form one outcome: the student's tail mass S = log Σ_{unlisted} e^{s_v}
  /// against the teacher's T, so the divergence is over K + 1 outcomes and says nothing about
  /// how the student shapes its tail.
  case bucket
}

extension Graph {
  /// Mean over rows of D(student ‖ teacher) for the rows of `logits` [M, V] (raw student logits,
  /// normalised by `MaskedLogSoftmax` exactly as the teacher's targets were), mask column excluded.
  /// `mse` averages over all M·V entries (the mask column counts as a zero difference, as in the
  /// reference where both sides hold the same constant there). No rows: a loss of 0.
  ///
  /// Backward uses dL/dz_j = dL/ds_j − p_j Σ_v dL/ds_v with p = e^s (valid for both
  /// normalisations), so each divergence only supplies dL/ds. With the tail as a bucket, a term
  /// f(S) of the tail's log-mass S gives dL/ds_v = f'(S)·e^{s_v − S} on each unlisted v.
  public func distillationLoss(_ logits: Var, targets: SparseDistributions, divergence: Divergence, mask: Int,
                               normalization: MaskNormalization = .normalized, tail: TailTreatment = .spread) -> Var {
    let v = logits.shape.last!, m = logits.value.count / v
    precondition(targets.rows == m, "distillationLoss: \(m) logit rows for \(targets.rows) target rows")
    precondition(mask >= 0 && mask < v && targets.ids.allSatisfy { $0 >= -1 && Int($0) < v && Int($0) != mask },
                 "distillationLoss: target ids outside the vocabulary or equal to the mask")
    let k = targets.k
    let others = v - 1  // tokens that are not the mask
    let dz = Tensor(uninitialized: logits.shape)
    var rowLoss = [Double](repeating: 0, count: m)
    let zp = logits.value.pointer, dzp = dz.pointer
    let scale: Float = m == 0 ? 0 : (divergence == .mse ? 1 / Float(m * v) : 1 / Float(m))
    // A teacher log-probability of −∞ where the student has mass would be an infinite loss; the
    // float floor stands in for it (stored targets are finite in practice).
    let floor: Float = -104
    rowLoss.withUnsafeMutableBufferPointer { lossBuf in
      let lossp = lossBuf.baseAddress!
      Parallel.forRange(m, grain: max(1, 8192 / v)) { range in
        let tau = UnsafeMutablePointer<Float>.allocate(capacity: v)
        let ds = UnsafeMutablePointer<Float>.allocate(capacity: v)
        let listed = UnsafeMutablePointer<Bool>.allocate(capacity: v)
        listed.initialize(repeating: false, count: v)
        defer { tau.deallocate(); ds.deallocate(); listed.deallocate() }
        for r in range {
          let z = zp + r * v, d = dzp + r * v
          var listedCount = 0
          for j in 0..<k {
            let id = Int(targets.ids[r * k + j])
            if id >= 0 { listed[id] = true; tau[id] = targets.logProbs[r * k + j]; listedCount += 1 }
          }
          let tailCount = others - listedCount
          let tailLogMass = targets.tailLogMass[r]
          if tail == .spread {
            let each: Float = tailCount > 0 ? tailLogMass - logf(Float(tailCount)) : -.infinity
            for u in 0..<v where !listed[u] { tau[u] = each }
          }
          let lz = MaskedLogSoftmax.normalizer(z, v, mask: mask, normalization: normalization)
          var loss = 0.0
          var studentTail = 0.0  // Σ over unlisted tokens of e^{s_v} (bucket)
          for u in 0..<v where u != mask {
            let s = z[u] - lz, p = expf(s)
            if tail == .bucket && !listed[u] { studentTail += Double(p); continue }
            let term = Self.elementTerm(divergence, s: s, p: p, t: tau[u], floor: floor)
            loss += term.value
            ds[u] = term.slope
          }
          if tail == .bucket && tailCount > 0 {
            let bigS = studentTail > 0 ? Float(Foundation.log(studentTail)) : -.infinity
            let term = Self.bucketTerm(divergence, bigS: bigS, t: tailLogMass, floor: floor)
            loss += term.value
            // e^{s_v − S} = p_v / P_tail.
            let share = studentTail > 0 ? term.slope / Float(studentTail) : 0
            for u in 0..<v where u != mask && !listed[u] { ds[u] = share * expf(z[u] - lz) }
          }
          ds[mask] = 0
          var sumDs: Float = 0
          for u in 0..<v where u != mask { sumDs += ds[u] }
          for u in 0..<v {
            d[u] = u == mask ? 0 : (ds[u] - expf(z[u] - lz) * sumDs) * scale
          }
          lossp[r] = loss
          for j in 0..<k { let id = Int(targets.ids[r * k + j]); if id >= 0 { listed[id] = false } }
        }
      }
    }
    let total = rowLoss.reduce(0, +) * Double(scale)
    let out = Tensor.filled([1], Float(total))
    return record(out, logits) { g, dy in
      let s = dy[flat: 0]
      let grad = Tensor(uninitialized: logits.shape)
      mapVec(grad.count, dz.pointer, grad.pointer) { $0 * s }
      g.accumulate(logits, grad, owned: true)
    }
  }

  /// One vocabulary entry: the divergence's term for student log-prob s (p = e^s) against teacher
  /// log-prob t, and its derivative in s.
  @inline(__always)
  static func elementTerm(_ divergence: Divergence, s: Float, p: Float, t: Float, floor: Float) -> (value: Double, slope: Float) {
    let tp = t == -.infinity ? 0 : expf(t)
    let tt = t == -.infinity ? floor : t
    switch divergence {
    case .reverseKL: return (Double(p) * Double(s - tt), p * (s - tt + 1))
    case .forwardKL: return (tp > 0 ? Double(tp) * Double(t - s) : 0, -tp)
    case .mse: return (Double((s - tt) * (s - tt)), 2 * (s - tt))
    case .totalVariation: return (0.5 * Double(abs(p - tp)), p > tp ? 0.5 * p : (p < tp ? -0.5 * p : 0))
    case .logL1: return (Double(abs(s - tt)), s > tt ? 1 : (s < tt ? -1 : 0))
    }
  }

  /// The tail as one outcome: the term f(S) for the student's tail log-mass S against the
  /// teacher's T, and f'(S).
  @inline(__always)
  static func bucketTerm(_ divergence: Divergence, bigS: Float, t: Float, floor: Float) -> (value: Double, slope: Float) {
    let sS = max(bigS, floor), tT = max(t, floor)
    let pS = bigS == -.infinity ? 0 : expf(bigS), pT = t == -.infinity ? 0 : expf(t)
    switch divergence {
    case .reverseKL: return (Double(pS) * Double(sS - tT), pS * (sS - tT + 1))
    case .forwardKL: return (pT > 0 ? Double(pT) * Double(tT - sS) : 0, -pT)
    case .mse: return (Double((sS - tT) * (sS - tT)), 2 * (sS - tT))
    case .totalVariation: return (0.5 * Double(abs(pS - pT)), pS > pT ? 0.5 * pS : (pS < pT ? -0.5 * pS : 0))
    case .logL1: return (Double(abs(sS - tT)), sS > tT ? 1 : (sS < tT ? -1 : 0))
    }
  }
}

extension Graph {
  /// Mean over rows of E_{v∼p}[a_v] = Σ_v p_v·a_v, where p is the masked softmax of `logits`
  /// [M, V] (mask column excluded) and `scores` [M, V] are constants (the mask column is ignored).
  /// Linear in p, so dL/dz_j = p_j (a_j − Σ_v p_v a_v) / M. The on-policy generator loss is this
  /// with a = log p_aux − log p_teacher.
  public func expectedScore(_ logits: Var, scores: Tensor, mask: Int) -> Var {
    rowMeanLoss(logits, constants: scores, mask: mask, name: "expectedScore") { z, a, d, v, lz, scale in
      var mean = 0.0
      for u in 0..<v where u != mask { mean += Double(expf(z[u] - lz)) * Double(a[u]) }
      for u in 0..<v { d[u] = u == mask ? 0 : expf(z[u] - lz) * (a[u] - Float(mean)) * scale }
      return mean
    }
  }

  /// Mean over rows of the cross-entropy −Σ_v q_v log p_v of the masked softmax p of `logits`
  /// [M, V] against constant target weights `targets` [M, V] (rows need not sum to 1; the mask
  /// column is ignored). dL/dz_j = (p_j Σ_v q_v − q_j) / M.
  public func softCrossEntropy(_ logits: Var, targets: Tensor, mask: Int) -> Var {
    rowMeanLoss(logits, constants: targets, mask: mask, name: "softCrossEntropy") { z, q, d, v, lz, scale in
      var loss = 0.0, mass: Float = 0
      for u in 0..<v where u != mask && q[u] != 0 { loss -= Double(q[u]) * Double(z[u] - lz); mass += q[u] }
      for u in 0..<v { d[u] = u == mask ? 0 : (expf(z[u] - lz) * mass - q[u]) * scale }
      return loss
    }
  }

  /// The scaffold both losses above share: rows in parallel, each row's value and its gradient
  /// (already divided by M) computed together by `row` from the row's masked log-normaliser, the
  /// mean as output, and a backward that only scales the stored gradient.
  private func rowMeanLoss(
    _ logits: Var, constants: Tensor, mask: Int, name: String,
    row: @escaping (_ z: UnsafePointer<Float>, _ c: UnsafePointer<Float>, _ d: UnsafeMutablePointer<Float>, _ v: Int,
                    _ lz: Float, _ scale: Float) -> Double
  ) -> Var {
    let v = logits.shape.last!, m = logits.value.count / v
    precondition(constants.count == m * v, "\(name): \(m)×\(v) logits for \(constants.count) constants")
    let dz = Tensor(uninitialized: logits.shape)
    var rowValue = [Double](repeating: 0, count: m)
    let zp = logits.value.pointer, cp = constants.pointer, dzp = dz.pointer
    let scale: Float = m == 0 ? 0 : 1 / Float(m)
    rowValue.withUnsafeMutableBufferPointer { out in
      let outp = out.baseAddress!
      Parallel.forRange(m, grain: max(1, 8192 / v)) { range in
        for r in range {
          let z = UnsafePointer(zp + r * v)
          outp[r] = row(z, UnsafePointer(cp + r * v), dzp + r * v, v, MaskedLogSoftmax.normalizer(z, v, mask: mask, normalization: .normalized), scale)
        }
      }
    }
    let out = Tensor.filled([1], Float(rowValue.reduce(0, +) * Double(scale)))
    return record(out, logits) { g, dy in
      let s = dy[flat: 0]
      let grad = Tensor(uninitialized: logits.shape)
      mapVec(grad.count, dz.pointer, grad.pointer) { $0 * s }
      g.accumulate(logits, grad, owned: true)
    }
  }
}
