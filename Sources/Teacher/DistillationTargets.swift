import Engine
import Foundation
import MaskedDiffusion
import Networks

/// How the k teacher times of one target are spaced (SPEC §6).
public enum TeacherSpacing: String, Codable, Sendable {
  /// t_i = t − i·dt, as the SDTT paper describes (default).
  case even
  /// t_i = t·s_i + (1−t)(t − k·dt), s = linspace(1, 0, k), clamped at ε = 1e-5: what both public codes
  /// compute (their comment says "evenly spaced", which the formula is not). For reproductions.
  case reference
}

/// Where the times t of a round's targets are drawn (SPEC §6 draws them uniformly).
public enum TargetTimes: String, Codable, Sendable {
  /// t ~ U(ε, 1), antithetic over the batch: the papers.
  case uniform
  /// t on the grid the round's student samples on, 1 − j·k·dt for j = 0 … S−1 (stratified over
  /// the batch): the only times at which the student is used, and at which the next round's
  /// teacher steps are taken (its grid is a subset). Never a step with nothing left to reveal.
  case studentGrid = "student_grid"
}

/// The settings of one round's teacher.
public struct TeacherSettings: Sendable {
  /// Teacher steps per target (k).
  public var steps: Int
  /// Size of one teacher step, (1 − 1e-5)/S0 · k^(r−1) in round r.
  public var dt: Double
  public var spacing: TeacherSpacing
  /// Normalised over the real tokens (SPEC), or the public codes' leaky defect (reproduction only).
  public var normalization: MaskNormalization
  /// Stored log-probabilities per masked position (≥ V − 1: exact).
  public var topK: Int
  /// Sampling floor of SDTT times: t = (1 − ε)·u + ε.
  public var timeEpsilon: Double = DiffusionTime.distillationFloor
  public var targetTimes: TargetTimes = .uniform
  /// Positions 0..<cleanPrefix are never masked in x_t (1: the BOS stays clean, as in every sampler).
  public var cleanPrefix: Int = 0
  /// Which positions each teacher step reveals: the ancestral rule's own (random), or as many but
  /// the most confident draws first (the order a confidence-ordered student samples with).
  public var order: RevealOrder = .random

  public init(steps: Int, dt: Double, spacing: TeacherSpacing = .even, normalization: MaskNormalization = .normalized,
              topK: Int) {
    self.steps = steps; self.dt = dt; self.spacing = spacing; self.normalization = normalization; self.topK = topK
  }

  /// The k teacher times starting from t.
  public func times(from t: Double) -> [Double] {
    switch spacing {
    case .even:
      return (0..<steps).map { t - Double($0) * dt }
    case .reference:
      let end = t - Double(steps) * dt
      return (0..<steps).map { i in
        let s = steps == 1 ? 1 : 1 - Double(i) / Double(steps - 1)
        return max(t * s + (1 - t) * end, DiffusionTime.distillationFloor)
      }
    }
  }
}

/// The SDTT teacher (SPEC §6): for clean rows x0 it draws t (antithetic over the batch with one
/// uniform), masks, runs k ancestral steps of size dt with the frozen network, and records for each
/// masked position the log p(x0) of the step that revealed it (or of the last step).
public enum TeacherTargets {
  /// Targets for the clean rows `x0` [B, L].
  public static func generate(teacher: Denoiser, clean x0: TokenTensor, settings: TeacherSettings,
                              rng: inout RandomStream, path: MaskedPrediction.Path = .packed) -> TargetBatch {
    let t: [Double]
    switch settings.targetTimes {
    case .uniform: t = TimeDraw.sharedOffset(x0.shape[0], floor: settings.timeEpsilon, rng: &rng)
    case .studentGrid: t = TimeDraw.grid(x0.shape[0], step: Double(settings.steps) * settings.dt, rng: &rng)
    }
    let xt = Masking.mask(x0, times: t, mask: Int32(teacher.config.maskIndex), keepingFirst: settings.cleanPrefix, rng: &rng)
    let targets = run(teacher: teacher, inputs: xt, times: t, settings: settings, rng: &rng, path: path)
    return TargetBatch(inputs: xt, times: t, targets: targets)
  }

  /// The k ancestral teacher steps from x_t; returns the targets of its masked positions.
  public static func run(teacher: Denoiser, inputs xt: TokenTensor, times t: [Double], settings: TeacherSettings,
                         rng: inout RandomStream, path: MaskedPrediction.Path = .packed) -> SparseDistributions {
    let v = teacher.config.vocabSize, maskId = teacher.config.maskIndex, mask = Int32(maskId)
    let b = xt.shape[0], l = xt.shape[1]
    // Slot of each masked position of x_t in the output (row-major order).
    var slot = [Int](repeating: -1, count: b * l)
    var m = 0
    for i in 0..<b { for j in 0..<l where xt[i, j] == mask { slot[i * l + j] = m; m += 1 } }
    var logProbs = [Float](repeating: 0, count: m * v)
    var current = xt
    let teacherTimes = t.map { settings.times(from: $0) }
    for step in 0..<settings.steps {
      let (next, predictions) = ancestralStep(teacher: teacher, inputs: current, times: teacherTimes.map { $0[step] },
                                              dt: settings.dt, normalization: settings.normalization, order: settings.order,
                                              rng: &rng, path: path)
      if predictions.positions.isEmpty { break }
      // This step's prediction is the target of each still-masked position (overwritten while it
      // stays masked, so a position keeps the prediction of the step that revealed it).
      for (r, at) in predictions.positions.enumerated() {
        let o = slot[at.row * l + at.position] * v
        logProbs.replaceSubrange(o..<(o + v), with: predictions.logProbs[(r * v)..<((r + 1) * v)])
      }
      current = next
    }
    return topK(logProbs: logProbs, rows: m, vocabulary: v, mask: maskId, k: settings.topK)
  }

  /// The teacher's log p(x0) at the masked positions of one step, rows in (sequence, position) order.
  public struct StepPredictions {
    public var positions: [(row: Int, position: Int)]
    /// [positions, V], the mask column −∞.
    public var logProbs: [Float]
  }

  /// One ancestral step from x at per-row times t to t − dt: each masked position is revealed by a
  /// Gumbel-max draw (float32) over [p·(m_t − m_s) for each token, m_s for "stay masked"], with
  /// m = (1 − 1e-3)·t the move chance. Returns the new tokens and the predictions used.
  public static func ancestralStep(teacher: Denoiser, inputs x: TokenTensor, times t: [Double], dt: Double,
                                   normalization: MaskNormalization, order: RevealOrder = .random, rng: inout RandomStream,
                                   path: MaskedPrediction.Path = .packed) -> (TokenTensor, StepPredictions) {
    let v = teacher.config.vocabSize, maskId = teacher.config.maskIndex
    let prediction = MaskedPrediction(Graph(recording: false), teacher, tokens: x, path: path)
    let all = prediction.logProbabilities(normalization).toArray()
    var next = x
    var drawn: [(token: Int32, logProb: Float, revealed: Bool)] = []
    for (r, at) in prediction.positions.enumerated() {
      let mt = Float(LogLinearSchedule.maskProbability(t[at.row]))
      let ms = Float(LogLinearSchedule.maskProbability(t[at.row] - dt))
      let best = GumbelMax.draw(count: v, rng: &rng) { u -> Float in
        u == maskId ? ms : expf(all[r * v + u]) * (mt - ms)
      }
      let revealed = best >= 0 && best != maskId
      switch order {
      case .random:
        if revealed { next[at.row, at.position] = Int32(best) }
      case .confidence:
        // Keep the count; the positions come below, from a draw at every masked position.
        let token = GumbelMax.draw(count: v, rng: &rng) { u -> Float in u == maskId ? 0 : expf(all[r * v + u]) }
        drawn.append((Int32(token), all[r * v + token], revealed))
      }
    }
    if order == .confidence {
      var start = 0
      while start < drawn.count {
        let row = prediction.positions[start].row
        var end = start
        while end < drawn.count && prediction.positions[end].row == row { end += 1 }
        let count = drawn[start..<end].filter(\.revealed).count
        let surest = (start..<end).sorted { drawn[$0].logProb > drawn[$1].logProb || (drawn[$0].logProb == drawn[$1].logProb && $0 < $1) }
        for i in surest.prefix(count) { next[row, prediction.positions[i].position] = drawn[i].token }
        start = end
      }
    }
    return (next, StepPredictions(positions: prediction.positions, logProbs: all))
  }

  /// Keeps the K most probable tokens of each row (descending) and the log of the rest's mass
  /// (computed by log-sum-exp of the rest, not 1 − Σ, so a small tail keeps its precision).
  public static func topK(logProbs: [Float], rows: Int, vocabulary v: Int, mask: Int, k requested: Int) -> SparseDistributions {
    let k = min(requested, v - 1)
    var ids = [Int32](repeating: -1, count: rows * k), lp = [Float](repeating: 0, count: rows * k)
    var tail = [Float](repeating: -.infinity, count: rows)
    // A min-heap of the K best (log-prob, id) per row: O(V log K), fine at GPT-2 vocabularies.
    var heap = [(Float, Int32)](repeating: (0, 0), count: k)
    @inline(__always) func less(_ a: (Float, Int32), _ b: (Float, Int32)) -> Bool {
      a.0 < b.0 || (a.0 == b.0 && a.1 > b.1)  // "worse": lower prob, or same prob and larger id
    }
    for r in 0..<rows {
      let row = r * v
      var n = 0
      for u in 0..<v where u != mask {
        let item = (logProbs[row + u], Int32(u))
        if n < k {
          heap[n] = item
          var c = n
          n += 1
          while c > 0 { let p = (c - 1) / 2; if less(heap[c], heap[p]) { heap.swapAt(c, p); c = p } else { break } }
        } else if less(heap[0], item) {
          heap[0] = item
          var c = 0
          while true {
            let l = 2 * c + 1, rr = l + 1
            var m = c
            if l < k && less(heap[l], heap[m]) { m = l }
            if rr < k && less(heap[rr], heap[m]) { m = rr }
            if m == c { break }
            heap.swapAt(c, m); c = m
          }
        }
      }
      let best = heap[0..<n].sorted { less($1, $0) }
      var chosen = Set<Int32>()
      for (j, e) in best.enumerated() { ids[r * k + j] = e.1; lp[r * k + j] = e.0; chosen.insert(e.1) }
      if k < v - 1 {
        var mx = -Float.infinity
        for u in 0..<v where u != mask && !chosen.contains(Int32(u)) { mx = max(mx, logProbs[row + u]) }
        if mx > -.infinity {
          var s = 0.0
          for u in 0..<v where u != mask && !chosen.contains(Int32(u)) { s += Double(expf(logProbs[row + u] - mx)) }
          tail[r] = mx + Float(Foundation.log(s))
        }
      }
    }
    return SparseDistributions(rows: rows, k: k, ids: ids, logProbs: lp, tailLogMass: tail)
  }
}
