import Foundation

/// Teacher targets for a set of positions: per row the top-K token ids with their log-probabilities
/// and the log of the remaining mass, which the losses spread evenly over the other tokens.
/// With K ≥ V − 1 (every token but the mask) the distribution is exact and the tail is −∞.
public struct TopKTargets: Sendable {
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
                 "TopKTargets: \(rows) rows × \(k) with \(ids.count) ids, \(logProbs.count) log-probs, \(tailLogMass.count) tails")
    self.rows = rows; self.k = k; self.ids = ids; self.logProbs = logProbs; self.tailLogMass = tailLogMass
  }
}

/// One batch of distillation targets: the masked inputs x_t, their times, and for every masked
/// position (rows in (sequence, position) order) the teacher's target distribution.
public struct TargetBatch: Sendable {
  public var inputs: TokenTensor
  public var times: [Double]
  public var targets: TopKTargets

  public init(inputs: TokenTensor, times: [Double], targets: TopKTargets) {
    self.inputs = inputs; self.times = times; self.targets = targets
  }
}

/// The SDTT divergences (SPEC §6), as an engine op on raw logits. See `DivergenceKind`.
public enum DivergenceKind: Sendable {
  case reverseKL, forwardKL, mse, totalVariation, logL1
}

/// Log-probabilities over the vocabulary without the mask column.
///   normalized:  s_v = z_v − log Σ_{u≠mask} e^{z_u}
///   leaky:       s_v = z_v − log(1 + Σ_{u≠mask} e^{z_u})   — the public codes' defect (their "own
///                token gets 0" scatter writes 0 into a masked row's mask column before the
///                log-softmax, so the probabilities sum to less than one); reproduction only.
@inline(__always)
func maskedLogNormalizer(_ z: UnsafePointer<Float>, _ v: Int, mask: Int, leaky: Bool) -> Float {
  let lse = logNormalizer(z, v, excluded: mask)
  if !leaky { return lse }
  // log(1 + e^lse), stably.
  return lse > 0 ? lse + log1pf(expf(-lse)) : log1pf(expf(lse))
}

extension Graph {
  /// Mean over rows of D(student ‖ teacher) for the rows of `logits` [M, V] (raw student logits),
  /// mask column excluded. `mse` averages over all M·V entries (the mask column counts as a zero
  /// difference, as in the reference where both sides hold the same constant there).
  ///
  /// Backward uses dL/dz_j = dL/ds_j − p_j Σ_v dL/ds_v with p = e^s (valid for both
  /// normalisations), so each divergence only supplies dL/ds.
  public func distillationLoss(_ logits: Var, targets: TopKTargets, divergence: DivergenceKind, mask: Int,
                               leaky: Bool = false) -> Var {
    let v = logits.shape.last!, m = logits.value.count / v
    precondition(targets.rows == m, "distillationLoss: \(m) logit rows for \(targets.rows) target rows")
    precondition(mask >= 0 && mask < v && targets.ids.allSatisfy { $0 >= -1 && Int($0) < v && Int($0) != mask },
                 "distillationLoss: target ids outside the vocabulary or equal to the mask")
    let k = targets.k
    let others = v - 1  // tokens that are not the mask
    let dz = Tensor(uninitialized: logits.shape)
    var rowLoss = [Double](repeating: 0, count: m)
    let zp = logits.value.pointer, dzp = dz.pointer
    let scale: Float = divergence == .mse ? 1 / Float(m * v) : 1 / Float(max(m, 1))
    rowLoss.withUnsafeMutableBufferPointer { lossBuf in
      let lossp = lossBuf.baseAddress!
      Parallel.forRange(m, grain: max(1, 8192 / v)) { range in
        let tau = UnsafeMutablePointer<Float>.allocate(capacity: v)
        let ds = UnsafeMutablePointer<Float>.allocate(capacity: v)
        defer { tau.deallocate(); ds.deallocate() }
        for r in range {
          let z = zp + r * v, d = dzp + r * v
          // Expand the target: top-K entries, the tail spread evenly over the remaining tokens.
          var listed = 0
          for j in 0..<k where targets.ids[r * k + j] >= 0 { listed += 1 }
          let tailCount = others - listed
          let tailEach: Float = tailCount > 0 ? targets.tailLogMass[r] - logf(Float(tailCount)) : -.infinity
          for u in 0..<v { tau[u] = tailEach }
          for j in 0..<k {
            let id = Int(targets.ids[r * k + j])
            if id >= 0 { tau[id] = targets.logProbs[r * k + j] }
          }
          let lz = maskedLogNormalizer(z, v, mask: mask, leaky: leaky)
          var loss = 0.0
          for u in 0..<v where u != mask {
            let s = z[u] - lz, t = tau[u], p = expf(s)
            let tp = t == -.infinity ? 0 : expf(t)
            switch divergence {
            case .reverseKL:
              // A teacher log-prob of −∞ where the student has mass would be an infinite loss;
              // treat it as the float floor instead (the stored targets are finite in practice).
              let tt = t == -.infinity ? -104 : t
              loss += Double(p) * Double(s - tt)
              ds[u] = p * (s - tt + 1)
            case .forwardKL:
              if tp > 0 { loss += Double(tp) * Double(t - s) }
              ds[u] = -tp
            case .mse:
              let tt = t == -.infinity ? -104 : t
              loss += Double((s - tt) * (s - tt))
              ds[u] = 2 * (s - tt)
            case .totalVariation:
              loss += 0.5 * Double(abs(p - tp))
              ds[u] = p > tp ? 0.5 * p : (p < tp ? -0.5 * p : 0)
            case .logL1:
              let tt = t == -.infinity ? -104 : t
              loss += Double(abs(s - tt))
              ds[u] = s > tt ? 1 : (s < tt ? -1 : 0)
            }
          }
          ds[mask] = 0
          var sumDs: Float = 0
          for u in 0..<v where u != mask { sumDs += ds[u] }
          for u in 0..<v {
            d[u] = u == mask ? 0 : (ds[u] - expf(z[u] - lz) * sumDs) * scale
          }
          lossp[r] = loss
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
}
