import Engine
import Foundation
import MaskedDiffusion
import Networks

/// The settings of the on-policy objective (`"method": "dmmd"`), discrete moment matching after
/// Hoogeboom et al. (arXiv 2603.20155) adapted to this project's step samplers. See README,
/// "On-policy distillation".
public struct MomentMatchingSettings: Codable, Equatable, Sendable {
  /// Weight of the generator (moment-matching) loss.
  public var weight: Double = 1
  /// Weight of the SDTT loss on the stored targets of the same rows (0: pure moment matching).
  public var sdttWeight: Double = 0
  /// The student's noise input: each row of each pass reads σ ~ U(0, noise) through the
  /// (otherwise unused) time conditioning, so that one sample's independent per-position draws can
  /// agree through a shared latent. 0: no noise.
  public var noise: Double = 0
  /// The auxiliary model's optimizer (AdamW, clipped at norm 1, constant rate).
  public var auxiliaryLearningRate: Float = 1e-4
  /// Weight of the teacher's prediction in the auxiliary model's target (x + w·p_teacher).
  public var teacherInAuxiliary: Double = 1
  /// Weight of the gradient through the student's draws revealed in z_s (score function, see
  /// `MomentMatchingTask`). 0: the gradient stops at the draws, as in the paper.
  public var reinforce: Double = 0
  /// The first step's latent (`SeedTokens`): rows at t = 1 read a random token at every masked
  /// position through the encoder, and σ = −1. The student must then be sampled with seed tokens.
  public var seedTokens = false
  /// Weight of the first step's pooled-marginal term: KL(π ‖ q̄) between the teacher's and the
  /// student's token distributions pooled over the positions the first step reveals in the batch
  /// (see `MomentMatchingTask`). It counters mode dropping across samples, which the per-row
  /// generator loss sees only slowly. 0: off.
  public var marginal: Double = 0

  public init() {}

  enum CodingKeys: String, CodingKey {
    case weight, sdttWeight = "sdtt_weight", noise, auxiliaryLearningRate = "auxiliary_lr"
    case teacherInAuxiliary = "teacher_in_auxiliary", reinforce, seedTokens = "seed_tokens", marginal
  }

  public init(from decoder: Decoder) throws {
    let c = try decoder.container(keyedBy: CodingKeys.self)
    weight = try c.decodeIfPresent(Double.self, forKey: .weight) ?? 1
    sdttWeight = try c.decodeIfPresent(Double.self, forKey: .sdttWeight) ?? 0
    noise = try c.decodeIfPresent(Double.self, forKey: .noise) ?? 0
    auxiliaryLearningRate = try c.decodeIfPresent(Float.self, forKey: .auxiliaryLearningRate) ?? 1e-4
    teacherInAuxiliary = try c.decodeIfPresent(Double.self, forKey: .teacherInAuxiliary) ?? 1
    reinforce = try c.decodeIfPresent(Double.self, forKey: .reinforce) ?? 0
    seedTokens = try c.decodeIfPresent(Bool.self, forKey: .seedTokens) ?? false
    marginal = try c.decodeIfPresent(Double.self, forKey: .marginal) ?? 0
  }

  /// `reinforce`, `seed_tokens` and `marginal` are written only when set, so that the recipes and
  /// manifests of runs made before they existed keep their hashes.
  public func encode(to encoder: Encoder) throws {
    var c = encoder.container(keyedBy: CodingKeys.self)
    try c.encode(weight, forKey: .weight)
    try c.encode(sdttWeight, forKey: .sdttWeight)
    try c.encode(noise, forKey: .noise)
    try c.encode(auxiliaryLearningRate, forKey: .auxiliaryLearningRate)
    try c.encode(teacherInAuxiliary, forKey: .teacherInAuxiliary)
    if reinforce != 0 { try c.encode(reinforce, forKey: .reinforce) }
    if seedTokens { try c.encode(seedTokens, forKey: .seedTokens) }
    if marginal != 0 { try c.encode(marginal, forKey: .marginal) }
  }

  public func validate() throws {
    func require(_ ok: Bool, _ m: String) throws { if !ok { throw TrainingError.invalidSettings("dmmd: " + m) } }
    try require(weight >= 0 && weight.isFinite && sdttWeight >= 0 && sdttWeight.isFinite, "weights must be ≥ 0")
    try require(weight > 0 || sdttWeight > 0, "weight and sdtt_weight cannot both be 0")
    try require(noise >= 0 && noise.isFinite, "noise must be ≥ 0")
    try require(auxiliaryLearningRate > 0 && auxiliaryLearningRate.isFinite, "auxiliary_lr must be positive")
    try require(teacherInAuxiliary >= 0 && teacherInAuxiliary.isFinite, "teacher_in_auxiliary must be ≥ 0")
    try require(reinforce >= 0 && reinforce.isFinite, "reinforce must be ≥ 0")
    try require(reinforce == 0 || weight > 0, "reinforce needs the generator loss (weight > 0)")
    try require(marginal >= 0 && marginal.isFinite, "marginal must be ≥ 0")
    try require(marginal == 0 || weight > 0, "marginal needs the generator loss (weight > 0)")
  }
}

/// One on-policy round for the student. For a stored row x_t at time t (the round's target store:
/// the same masked inputs SDTT uses), with Δ = 1/S the student's step:
///
///  1. The student predicts p_η(·|x_t, σ) at every masked position (σ its noise, if any) and draws
///     a token x_i for each — its own sample of the step (no gradient through the draw).
///  2. Its step reveals each masked position with the ancestral probability (α_{t−Δ} − α_t)/(1 − α_t)
///     (the set R). A random part of R — each position with probability u ∼ U(0, 1), one u per
///     row — is revealed with the drawn tokens: z_s, a state inside the step.
///  3. At the positions Q = R not revealed in z_s, the frozen teacher θ and an auxiliary model φ
///     (a denoiser trained on the student's own samples) predict from z_s.
///  4. Generator loss: mean over Q of Σ_c p_η(c)·(log p_φ(c|z_s) − log p_θ(c|z_s)) — linear in the
///     student's probabilities, so its gradient moves p_η towards what the teacher predicts and
///     away from what the student's own samples make likely, given the tokens revealed beside it.
///     When the student's joint samples match the teacher's, φ = θ and the gradient vanishes.
///  5. Auxiliary loss: cross-entropy of φ(z_s) at Q against x_Q + w·p_θ(z_s) (the student's
///     tokens, pulled toward the teacher), one AdamW step per training step.
///
///  6. With `reinforce` w > 0, the gradient also flows through the draws revealed in z_s (score
///     function): the loss above is an expectation over those draws too, and its exact gradient
///     adds (w/|Q|)·Σ_rows A_i·Σ_{j ∈ z_s(i)} ∇ log p_η(x_j), with A_i the row's sampled cost
///     Σ_{q ∈ Q(i)} (log p_φ(x_q|z_s) − log p_θ(x_q|z_s)) (an estimate of log q/p of the row's Q
///     tokens given its z_s tokens: high when the teacher finds them at odds with the revealed
///     ones) minus the mean of the other rows' (a baseline). The paper stops the gradient at
///     the draws; then nothing rewards a row's revealed tokens for agreeing with the ones drawn
///     beside them, which is the only way a shared noise input can be put to use.
///
///  7. With `marginal` w > 0, over the rows at t = 1 (the first step): q̄ = the student's
///     probabilities pooled over the positions R its step reveals in the batch, π = the teacher's
///     at the same positions from the same (seed-free) input; the loss adds w·KL(π ‖ q̄), a
///     forward KL that penalises tokens the student's first step stops producing. Its gradient
///     with respect to one row's p_η is −π/(N·q̄): `expectedScore` with scores −π/q̄ (q̄ floored at
///     1e-4), shifted so that the value reported is the KL itself.
///
/// The positions of one step are drawn independently given x_t; step 3 judges them jointly, which
/// is what few-step sampling gets wrong and SDTT's per-position targets cannot see.
public final class MomentMatchingTask: TrainingTask {
  let source: TargetSource
  let teacher: Denoiser
  let auxiliary: Denoiser
  let auxiliaryOptimizer: AdamW
  let settings: MomentMatchingSettings
  let objective: DistillationObjective
  /// The student's step 1/S.
  let studentStep: Double
  /// The auxiliary optimizer's step count, as a tensor so that checkpoints carry it.
  let auxiliaryStep = Tensor.zeros([1])
  /// The score-function term (step 6) is a surrogate: its gradient is the one wanted, its value
  /// means nothing, so the loss reported (logs, NaN guard) leaves it out. Tests set this to
  /// finite-difference its gradient.
  var reportsScoreFunctionValue = false
  /// Sums over the data-parallel workers: the global counts of the loss's means, the marginal
  /// term's pooled distributions and the auxiliary model's gradients.
  let reducer: GradientReducer

  /// - Parameters:
  ///   - teacher: the frozen denoiser whose distribution the student should sample from.
  ///   - auxiliary: starts as a copy of the teacher (its weights are overwritten on resume).
  ///   - reducer: the same reducer as the trainer's (a distributed run sums over its processes).
  public init(source: TargetSource, teacher: Denoiser, auxiliary: Denoiser, studentSteps: Int,
              settings: MomentMatchingSettings, objective: DistillationObjective,
              reducer: GradientReducer = LocalReduction()) throws {
    try settings.validate()
    guard teacher.config == auxiliary.config else {
      throw TrainingError.invalidSettings("dmmd: the auxiliary model must have the teacher's architecture")
    }
    self.source = source
    self.teacher = teacher
    self.auxiliary = auxiliary
    self.settings = settings
    self.objective = objective
    self.reducer = reducer
    studentStep = 1 / Double(studentSteps)
    var adam = AdamWSettings(learningRate: settings.auxiliaryLearningRate, warmupSteps: 0)
    adam.clipNorm = 1
    auxiliaryOptimizer = AdamW(parameters: auxiliary.parameters, settings: adam)
  }

  public var rowCount: Int { source.rowCount }
  public func tokens(rows: Int) -> Int { rows * source.length }

  public var state: [(name: String, tensor: Tensor)] {
    let p = auxiliary.parameters
    return zip(p.names, p.tensors).map { ("auxiliary.\($0)", $1) }
      + zip(p.names, auxiliaryOptimizer.m).map { ("auxiliary_adam_m.\($0)", $1) }
      + zip(p.names, auxiliaryOptimizer.v).map { ("auxiliary_adam_v.\($0)", $1) }
      + [("auxiliary_adam_step", auxiliaryStep)]
  }

  /// After a checkpoint restored `state` in place, the optimizer's step count follows.
  func syncRestoredStep() {
    let stored = Int(auxiliaryStep[flat: 0])
    if stored != auxiliaryOptimizer.step {
      auxiliaryOptimizer.restore(step: stored, m: auxiliaryOptimizer.m, v: auxiliaryOptimizer.v)
    }
  }

  public func loss(_ g: Graph, network: Network, rows: [Int], upcoming: [Int], rng: inout RandomStream) throws -> Var {
    try loss(g, network: network, part: BatchPart(global: rows, range: rows.indices), upcoming: upcoming, rng: &rng).loss
  }

  /// Data-parallel except for the score-function term, whose baseline compares a row with every
  /// other row of the batch.
  public var splitsBetweenWorkers: Bool { settings.reinforce == 0 }

  /// This worker's share of the global batch's loss. Every random draw of a row (its noise, its
  /// step, its seeds, its draws and which of them z_s reveals) comes from the row's own stream,
  /// derived from one draw of the run's stream and the row's index in the global batch, so a row
  /// gets the same draws however the batch is split. The means of the global loss (over the
  /// masked positions for SDTT, over Q for the generator, over the first step's revealed positions
  /// for the marginal term, whose pooled distributions are global too) use counts summed over the
  /// workers, and the auxiliary model takes one step on its gradients summed over them, so every
  /// worker keeps the same auxiliary model.
  public func loss(_ g: Graph, network: Network, part: BatchPart, upcoming: [Int], rng: inout RandomStream) throws -> PartLoss {
    guard part.isWhole || splitsBetweenWorkers else {
      throw TrainingError.invalidSettings("dmmd: reinforce > 0 cannot split its batches between workers")
    }
    syncRestoredStep()
    let student = try network.requireDenoiser("on-policy distillation")
    if settings.seedTokens, case .mdlm = student {
      throw TrainingError.invalidSettings("dmmd: seed_tokens is a partition-network input; an MDLM student has no such input")
    }
    let batch = try source.batch(rows: part.rows)
    let mask = student.config.maskIndex, v = student.config.vocabSize
    let b = batch.inputs.shape[0], l = batch.inputs.shape[1]
    let batchStream = RandomStream(seed: rng.next())
    var streams = (0..<b).map { batchStream.derive("row \(part.range.lowerBound + $0)") }
    var sigma: [Float]? = settings.noise > 0 ? (0..<b).map { Float(streams[$0].uniformDouble() * settings.noise) } : nil
    // The student's step: each masked position is in it (R) with the ancestral probability.
    var step: [[Int]] = Array(repeating: [], count: b)
    for i in 0..<b {
      let t = batch.times[i]
      let alphaT = LogLinearSchedule.alpha(t), alphaS = LogLinearSchedule.alpha(max(0, t - studentStep))
      let q = (alphaS - alphaT) / max(1 - alphaT, 1e-12)
      for j in 0..<l where batch.inputs[i, j] == Int32(mask) && streams[i].uniformDouble() < q { step[i].append(j) }
    }
    // The first step's latent: seeds at the masked positions of the rows at t = 1, flagged by σ.
    var seeds: TokenTensor? = nil
    if settings.seedTokens {
      let first = Set((0..<b).filter { SeedTokens.isFirstStep(time: batch.times[$0]) })
      if !first.isEmpty {
        seeds = SeedTokens.seeds(for: batch.inputs, rows: first, vocabularySize: v, mask: mask, streams: &streams)
        var s = sigma ?? [Float](repeating: 0, count: b)
        for i in first { s[i] = SeedTokens.sigma }
        sigma = s
      }
    }
    // The student's prediction: at every masked position when the SDTT term needs them, else only
    // at R (the decoder runs on R alone).
    let predicted = MaskedPrediction(g, student, tokens: batch.inputs, sigma: sigma, only: settings.sdttWeight > 0 ? nil : step,
                                     seeds: seeds)

    // 1–2. The student's draws at R, and z_s: a random share of R revealed with them.
    let inStep = Set(step.enumerated().flatMap { i, js in js.map { i * l + $0 } })
    var zs = batch.inputs
    var drawn: [Int: Int32] = [:]
    var query: [[Int]] = Array(repeating: [], count: b)
    var queryRows: [Int] = []  // rows of `predicted` at Q
    var revealed: [(predictedRow: Int, row: Int, token: Int32)] = []  // the draws in z_s
    var studentLogProbs: [Float] = []
    var marginal: MarginalSums? = nil
    if settings.weight > 0 {
      studentLogProbs = predicted.logProbabilities().toArray()
      let share = (0..<b).map { streams[$0].uniformDouble() }
      for (r, at) in predicted.positions.enumerated() where inStep.contains(at.row * l + at.position) {
        let token = Int32(GumbelMax.draw(count: v, rng: &streams[at.row]) { u -> Double in
          u == mask ? 0 : Foundation.exp(Double(studentLogProbs[r * v + u]))
        })
        if streams[at.row].uniformDouble() < share[at.row] {
          zs[at.row, at.position] = token
          revealed.append((r, at.row, token))
        } else {
          drawn[at.row * l + at.position] = token
          query[at.row].append(at.position)
          queryRows.append(r)
        }
      }
      if settings.marginal > 0 {
        marginal = marginalSums(predicted: predicted, logProbs: studentLogProbs, inStep: inStep, batch: batch, step: step)
      }
    }

    // The global counts (and pooled sums) every mean below is over: one sum over the workers.
    let local = [Double(settings.sdttWeight > 0 ? predicted.positions.count : 0), Double(queryRows.count)]
      + (marginal.map { [Double($0.rows.count)] + $0.pi + $0.qBar } ?? [])
    let global = try reducer.sum(local)
    /// This worker's share of a mean over `all` terms of which it holds `mine`.
    func fraction(_ mine: Int, of all: Double) -> Float { all > 0 ? Float(Double(mine) / all) : 0 }

    var total: Var? = nil
    func add(_ term: Var) { total = total.map { g.add($0, term) } ?? term }
    if settings.sdttWeight > 0, !predicted.positions.isEmpty {
      let sdtt = g.distillationLoss(predicted.logits, targets: batch.targets, divergence: objective.divergence, mask: mask,
                                    normalization: objective.normalization, tail: objective.tail)
      add(g.affine(sdtt, scale: Float(settings.sdttWeight) * fraction(predicted.positions.count, of: global[0])))
    }
    if let marginal, !marginal.rows.isEmpty {
      var pooled = marginal
      pooled.pi = Array(global[3..<(3 + v)])
      pooled.qBar = Array(global[(3 + v)...])
      add(marginalTerm(g, predicted: predicted, sums: pooled, allRows: global[2]))
    }
    let allQueries = global[1]
    if allQueries > 0 {
      let gradients = try queryRows.isEmpty ? [Tensor?](repeating: nil, count: auxiliary.parameters.count)
        : generatorStep(g, predicted: predicted, zs: zs, query: query, queryRows: queryRows, drawn: drawn, revealed: revealed,
                        rowCount: b, share: fraction(queryRows.count, of: allQueries), add: add)
      // 5. One step of the auxiliary model on the student's own tokens (summed over the workers).
      var summed = gradients
      try reducer.sumGradients(&summed, shapes: auxiliary.parameters.tensors.map(\.shape))
      auxiliaryOptimizer.apply(summed)
      auxiliaryStep[flat: 0] = Float(auxiliaryOptimizer.step)
    }
    return PartLoss(share: total ?? g.affine(g.sum(predicted.logits), scale: 0))
  }

  /// Steps 3, 4 and 6 on this worker's rows: adds the generator loss (and the score-function term)
  /// as `share` of the global mean over Q, and returns the auxiliary model's gradients of its loss
  /// (the same share of its global mean).
  func generatorStep(_ g: Graph, predicted: MaskedPrediction, zs: TokenTensor, query: [[Int]], queryRows: [Int],
                     drawn: [Int: Int32], revealed: [(predictedRow: Int, row: Int, token: Int32)], rowCount b: Int,
                     share: Float, add: (Var) -> Void) throws -> [Tensor?] {
    let mask = predicted.mask, v = predicted.logits.shape[1], l = zs.shape[1]
    // 3. Teacher and auxiliary at z_s, at Q only (in the same (row, position) order as queryRows).
    let teacherAt = MaskedPrediction(Graph(recording: false), teacher, tokens: zs, only: query)
    let teacherLogProbs = MaskedLogSoftmax.logProbabilities(teacherAt.logits.value, mask: mask).toArray()
    let ga = Graph(recording: true, training: false)
    let auxLogits = MaskedPrediction(ga, auxiliary, tokens: zs, only: query).logits
    let auxLogProbs = MaskedLogSoftmax.logProbabilities(auxLogits.value, mask: mask).toArray()
    let tokensAtQ = teacherAt.positions.map { drawn[$0.row * l + $0.position]! }

    // 4. Generator loss.
    let m = queryRows.count
    var scores = [Float](repeating: 0, count: m * v)
    var auxTargets = [Float](repeating: 0, count: m * v)
    let w = Float(settings.teacherInAuxiliary)
    for q in 0..<m {
      for c in 0..<v where c != mask {
        let teacherLP = teacherLogProbs[q * v + c]
        scores[q * v + c] = auxLogProbs[q * v + c] - teacherLP
        auxTargets[q * v + c] = w * Foundation.expf(teacherLP)
      }
      auxTargets[q * v + Int(tokensAtQ[q])] += 1
    }
    let generator = g.expectedScore(g.selectRows(predicted.logits, queryRows), scores: Tensor(shape: [m, v], values: scores),
                                    mask: mask)
    add(g.affine(generator, scale: Float(settings.weight) * share))
    if settings.reinforce > 0, !revealed.isEmpty {
      let rowCost = (0..<m).reduce(into: [Double](repeating: 0, count: b)) { cost, q in
        cost[teacherAt.positions[q].row] += Double(scores[q * v + Int(tokensAtQ[q])])
      }
      add(Self.scoreFunctionTerm(g, predicted.logits, revealed: revealed, rowCost: rowCost,
                                 queried: Set(teacherAt.positions.map(\.row)), queryCount: m,
                                 weight: settings.reinforce, mask: mask, centred: !reportsScoreFunctionValue))
    }

    // The auxiliary model's loss on this worker's Q, as its share of the global mean.
    let auxLoss = ga.softCrossEntropy(auxLogits, targets: Tensor(shape: [m, v], values: auxTargets), mask: mask)
    ga.backward(from: auxLoss, seed: Tensor.filled([1], share))
    return auxiliary.parameters.tensors.map { ga.gradient(ofParameter: $0) }
  }

  /// What the marginal term (step 7) pools: the predicted rows of the first step's revealed
  /// positions, and the sums over those positions of the student's (q̄) and the teacher's (π)
  /// probabilities; summed over the workers before the term is built.
  struct MarginalSums {
    var rows: [Int]
    var pi: [Double]
    var qBar: [Double]
  }

  /// This worker's part of step 7's pooled distributions (no rows when its batch has no first step).
  func marginalSums(predicted: MaskedPrediction, logProbs: [Float], inStep: Set<Int>, batch: TargetBatch,
                    step: [[Int]]) -> MarginalSums {
    let l = batch.inputs.shape[1], v = predicted.logits.shape[1], mask = predicted.mask
    let first = (0..<step.count).map { SeedTokens.isFirstStep(time: batch.times[$0]) }
    let rows = predicted.positions.enumerated()
      .filter { first[$0.element.row] && inStep.contains($0.element.row * l + $0.element.position) }.map(\.offset)
    var sums = MarginalSums(rows: rows, pi: [Double](repeating: 0, count: v),
                            qBar: [Double](repeating: 0, count: v))
    guard !rows.isEmpty else { return sums }
    // The teacher at the same positions from the seed-free input (what the first step starts from).
    let teacherAt = MaskedPrediction(Graph(recording: false), teacher, tokens: batch.inputs,
                                     only: step.enumerated().map { first[$0.offset] ? $0.element : [] })
    let teacherLogProbs = teacherAt.logProbabilities().toArray()
    precondition(teacherAt.positions.count == rows.count, "the teacher's positions are the student's revealed ones")
    for r in 0..<teacherAt.positions.count {
      for c in 0..<v where c != mask { sums.pi[c] += Double(Foundation.exp(teacherLogProbs[r * v + c])) }
    }
    for r in rows { for c in 0..<v where c != mask { sums.qBar[c] += Double(Foundation.exp(logProbs[r * v + c])) } }
    return sums
  }

  /// Step 7: w·KL(π ‖ q̄) over the first step's revealed positions, from the pooled sums of all
  /// workers (`allRows` positions, the teacher's and the student's alike), as this worker's share
  /// (its rows over all).
  func marginalTerm(_ g: Graph, predicted: MaskedPrediction, sums: MarginalSums, allRows n: Double) -> Var {
    let v = predicted.logits.shape[1], mask = predicted.mask, rows = sums.rows
    var scores = [Float](repeating: 0, count: rows.count * v)
    var kl = 0.0
    for c in 0..<v where c != mask {
      let p = sums.pi[c] / n, q = sums.qBar[c] / n
      if p > 0 { kl += p * (Foundation.log(p) - Foundation.log(max(q, 1e-30))) }
      let score = Float(-p / max(q, 1e-4))
      for k in 0..<rows.count { scores[k * v + c] = score }
    }
    let surrogate = g.expectedScore(g.selectRows(predicted.logits, rows), scores: Tensor(shape: [rows.count, v], values: scores), mask: mask)
    let w = Float(settings.marginal) * Float(Double(rows.count) / n)
    return g.affine(surrogate, scale: w, shift: w * (Float(kl) - surrogate.value[flat: 0]))
  }

  /// Step 6: (w/|Q|)·Σ_i A_i·Σ_{j ∈ z_s(i)} log p_η(x_j) (less its own value when `centred`),
  /// whose gradient is the score-function part of the generator loss's gradient. Only rows with
  /// both revealed draws and Q positions take part (the others carry no cost); A_i = cost_i − the
  /// mean of the other such rows.
  static func scoreFunctionTerm(_ g: Graph, _ logits: Var, revealed: [(predictedRow: Int, row: Int, token: Int32)],
                                rowCost: [Double], queried: Set<Int>, queryCount m: Int, weight: Double, mask: Int,
                                centred: Bool = false) -> Var {
    let v = logits.shape.last!
    let used = revealed.filter { queried.contains($0.row) }
    let rows = Set(used.map(\.row))
    guard rows.count > 1 else { return g.affine(g.sum(logits), scale: 0) }
    let sum = rows.reduce(0.0) { $0 + rowCost[$1] }
    var weights = [Float](repeating: 0, count: used.count * v)
    for (k, draw) in used.enumerated() {
      let advantage = rowCost[draw.row] - (sum - rowCost[draw.row]) / Double(rows.count - 1)
      // softCrossEntropy gives the mean of −q·log p: q = −A makes it the mean of A·log p(x_j).
      weights[k * v + Int(draw.token)] = Float(-advantage)
    }
    let term = g.softCrossEntropy(g.selectRows(logits, used.map(\.predictedRow)),
                                  targets: Tensor(shape: [used.count, v], values: weights), mask: mask)
    let scale = Float(weight * Double(used.count) / Double(m))
    // Centred: the value minus itself (a constant), so that only the gradient remains.
    return g.affine(term, scale: scale, shift: centred ? -scale * term.value[flat: 0] : 0)
  }
}
