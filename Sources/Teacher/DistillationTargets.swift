import Engine
import Foundation
import Networks

/// How the k teacher times of one target are spaced (SPEC §6).
public enum TeacherSpacing: String, Codable, Sendable {
  /// t_i = t − i·dt, as the SDTT paper describes (default).
  case even
  /// t_i = t·s_i + (1−t)(t − k·dt), s = linspace(1, 0, k), clamped at 1e-5: what both public codes
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
  /// The public codes' un-normalised log-probabilities (SPEC §6 defect); reproduction only.
  public var leaky: Bool
  /// Stored log-probabilities per masked position (≥ V − 1: exact).
  public var topK: Int
  /// Sampling floor of SDTT times: t = (1 − ε)·u + ε.
  public var timeEpsilon: Double = 1e-5
  public var targetTimes: TargetTimes = .uniform

  public init(steps: Int, dt: Double, spacing: TeacherSpacing = .even, leaky: Bool = false, topK: Int) {
    self.steps = steps; self.dt = dt; self.spacing = spacing; self.leaky = leaky; self.topK = topK
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
        return max(t * s + (1 - t) * end, 1e-5)
      }
    }
  }
}

/// The SDTT teacher (SPEC §6): for clean rows x0 it draws t (antithetic over the batch with one
/// uniform), masks, runs k ancestral steps of size dt with the frozen network, and records for each
/// masked position the log p(x0) of the step that revealed it (or of the last step).
public enum TeacherTargets {
  /// SDTT's antithetic times: one uniform r, u_i = (r + i/n) mod 1, t = (1 − ε)u + ε.
  public static func times(_ n: Int, epsilon: Double, rng: inout RandomStream) -> [Double] {
    let r = rng.uniformDouble()
    return (0..<n).map { i in (1 - epsilon) * (r + Double(i) / Double(n)).truncatingRemainder(dividingBy: 1) + epsilon }
  }

  /// Times on the student's grid 1 − j·Δ (Δ = k·dt, j = 0 … S−1 with S = round(1/Δ)), one random
  /// offset then consecutive grid points, so a batch covers the grid evenly.
  public static func gridTimes(_ n: Int, studentStep: Double, rng: inout RandomStream) -> [Double] {
    let s = max(1, Int((1 / studentStep).rounded()))
    let first = Int(rng.uniformDouble() * Double(s)) % s
    return (0..<n).map { i in 1 - Double((first + i) % s) * studentStep }
  }

  /// MDLM masking: each token becomes the mask with probability 1 − α(t).
  public static func mask(_ x0: TokenTensor, times: [Double], mask: Int32, rng: inout RandomStream) -> TokenTensor {
    var xt = x0
    for i in 0..<x0.shape[0] {
      let p = LogLinearSchedule.maskProbability(times[i])
      for j in 0..<x0.shape[1] where rng.uniformDouble() < p { xt[i, j] = mask }
    }
    return xt
  }

  /// Targets for the clean rows `x0` [B, L].
  public static func generate(teacher: DiffusionNetwork, clean x0: TokenTensor, settings: TeacherSettings,
                              rng: inout RandomStream, path: LogitPath = .packed) -> TargetBatch {
    let t = settings.targetTimes == .uniform
      ? times(x0.shape[0], epsilon: settings.timeEpsilon, rng: &rng)
      : gridTimes(x0.shape[0], studentStep: Double(settings.steps) * settings.dt, rng: &rng)
    let xt = mask(x0, times: t, mask: Int32(teacher.config.maskIndex), rng: &rng)
    let targets = run(teacher: teacher, inputs: xt, times: t, settings: settings, rng: &rng, path: path)
    return TargetBatch(inputs: xt, times: t, targets: targets)
  }

  /// The k ancestral teacher steps from x_t; returns the targets of its masked positions.
  public static func run(teacher: DiffusionNetwork, inputs xt: TokenTensor, times t: [Double], settings: TeacherSettings,
                         rng: inout RandomStream, path: LogitPath = .packed) -> TopKTargets {
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
                                              dt: settings.dt, leaky: settings.leaky, rng: &rng, path: path)
      if predictions.positions.isEmpty { break }
      // This step's prediction is the target of each still-masked position (overwritten while it
      // stays masked, so a position keeps the prediction of the step that revealed it).
      for (r, at) in predictions.positions.enumerated() {
        let o = slot[at.row * l + at.position] * v
        for u in 0..<v { logProbs[o + u] = predictions.logProbs[r * v + u] }
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
  public static func ancestralStep(teacher: DiffusionNetwork, inputs x: TokenTensor, times t: [Double], dt: Double,
                                   leaky: Bool, rng: inout RandomStream,
                                   path: LogitPath = .packed) -> (TokenTensor, StepPredictions) {
    let v = teacher.config.vocabSize, maskId = teacher.config.maskIndex
    let logits = maskedLogits(teacher, x, path: path)
    let z = logits.logits.value.toArray()
    var next = x
    var all = [Float](repeating: 0, count: logits.positions.count * v)
    let eps = LogLinearSchedule.eps
    for (r, at) in logits.positions.enumerated() {
      // Written straight into this step's prediction rows: no per-position array.
      z.withUnsafeBufferPointer { zp in
        all.withUnsafeMutableBufferPointer { out in
          logProbabilities(zp.baseAddress! + r * v, v, mask: maskId, leaky: leaky, into: out.baseAddress! + r * v)
        }
      }
      let ti = t[at.row]
      let mt = Float((1 - eps) * ti), ms = Float((1 - eps) * (ti - dt))
      var best = maskId, bestScore = -Float.infinity
      for u in 0..<v {
        let q = u == maskId ? ms : expf(all[r * v + u]) * (mt - ms)
        let g = q / (1e-10 - logf(rng.uniformFloat() + 1e-10))
        if g > bestScore { bestScore = g; best = u }
      }
      if best != maskId { next[at.row, at.position] = Int32(best) }
    }
    return (next, StepPredictions(positions: logits.positions, logProbs: all))
  }

  /// `ancestralStep`, keeping only the new tokens.
  public static func step(teacher: DiffusionNetwork, inputs x: TokenTensor, times t: [Double], dt: Double, leaky: Bool,
                          rng: inout RandomStream) -> TokenTensor {
    ancestralStep(teacher: teacher, inputs: x, times: t, dt: dt, leaky: leaky, rng: &rng).0
  }

  /// Which forward computes the teacher's predictions: the packed inference path (encoder on the
  /// clean tokens, decoder on the masked positions) or, for checks, the full training-mode pass
  /// with group = (token is mask).
  public enum LogitPath: Sendable { case packed, full }

  static func maskedLogits(_ net: DiffusionNetwork, _ tokens: TokenTensor, path: LogitPath) -> MaskedPositionLogits {
    let g = Graph(recording: false)
    guard path == .full, let pgm = net as? PartitionDIT else { return net.maskedPositionLogits(g, tokens: tokens) }
    let mask = Int32(net.config.maskIndex), l = tokens.shape[1]
    let groups = TokenTensor(shape: tokens.shape, values: tokens.values.map { $0 == mask ? 1 : 0 })
    let logits = pgm.logits(g, tokens: tokens, groups: groups)
    var rows: [Int] = [], at: [(row: Int, position: Int)] = []
    for i in 0..<tokens.shape[0] { for j in 0..<l where tokens[i, j] == mask { rows.append(i * l + j); at.append((i, j)) } }
    return MaskedPositionLogits(logits: g.selectRows(logits, rows), positions: at)
  }

  /// log p(x0) over the vocabulary from raw logits: the mask column removed (−∞); normalised over
  /// the other tokens, or leaky (an extra 0 logit in the normaliser, the public codes' defect).
  public static func logProbabilities(_ z: UnsafePointer<Float>, _ v: Int, mask: Int, leaky: Bool) -> [Float] {
    [Float](unsafeUninitializedCapacity: v) { out, count in
      logProbabilities(z, v, mask: mask, leaky: leaky, into: out.baseAddress!)
      count = v
    }
  }

  /// `logProbabilities` into `out[0..<v]`.
  public static func logProbabilities(_ z: UnsafePointer<Float>, _ v: Int, mask: Int, leaky: Bool,
                                      into out: UnsafeMutablePointer<Float>) {
    var m = -Float.infinity
    for u in 0..<v where u != mask { m = max(m, z[u]) }
    if leaky { m = max(m, 0) }
    var sum = 0.0
    for u in 0..<v where u != mask { sum += Double(expf(z[u] - m)) }
    if leaky { sum += Double(expf(-m)) }
    let lse = m + Float(Foundation.log(sum))
    for u in 0..<v { out[u] = u == mask ? -.infinity : z[u] - lse }
  }

  /// Keeps the K most probable tokens of each row (descending) and the log of the rest's mass
  /// (computed by log-sum-exp of the rest, not 1 − Σ, so a small tail keeps its precision).
  public static func topK(logProbs: [Float], rows: Int, vocabulary v: Int, mask: Int, k requested: Int) -> TopKTargets {
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
    return TopKTargets(rows: rows, k: k, ids: ids, logProbs: lp, tailLogMass: tail)
  }
}
