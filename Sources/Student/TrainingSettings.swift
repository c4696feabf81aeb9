/// The optimisation half of a recipe. JSON keys are snake_case.
public struct TrainingSettings: Codable, Equatable, Sendable {
  /// Optimizer steps.
  public var steps: Int
  /// Rows per micro-batch.
  public var batchSize: Int
  /// Micro-batches per optimizer step (gradient accumulation).
  public var accumulation: Int = 1
  public var optimizer = AdamWSettings()
  /// EMA decay (0.9999 in the papers, with the warm-up formula).
  public var emaDecay: Float = 0.9999
  public var checkpointEvery: Int = 500
  public var logEvery: Int = 10
  /// Validation every N steps (0: only at the end).
  public var evalEvery: Int = 0
  /// Validation rows (the first ones of the split, with fixed randomness, so evaluations compare).
  public var evalRows: Int = 256
  public var seed: UInt64 = 0

  public init(steps: Int, batchSize: Int, accumulation: Int = 1, optimizer: AdamWSettings = AdamWSettings(),
              emaDecay: Float = 0.9999, checkpointEvery: Int = 500, logEvery: Int = 10, evalEvery: Int = 0,
              evalRows: Int = 256, seed: UInt64 = 0) {
    self.steps = steps; self.batchSize = batchSize; self.accumulation = accumulation; self.optimizer = optimizer
    self.emaDecay = emaDecay; self.checkpointEvery = checkpointEvery; self.logEvery = logEvery
    self.evalEvery = evalEvery; self.evalRows = evalRows; self.seed = seed
  }

  enum CodingKeys: String, CodingKey {
    case steps, batchSize = "batch_size", accumulation, optimizer, emaDecay = "ema_decay"
    case checkpointEvery = "checkpoint_every", logEvery = "log_every", evalEvery = "eval_every"
    case evalRows = "eval_rows", seed
  }

  public init(from decoder: Decoder) throws {
    let c = try decoder.container(keyedBy: CodingKeys.self)
    steps = try c.decode(Int.self, forKey: .steps)
    batchSize = try c.decode(Int.self, forKey: .batchSize)
    accumulation = try c.decodeIfPresent(Int.self, forKey: .accumulation) ?? 1
    optimizer = try c.decodeIfPresent(AdamWSettings.self, forKey: .optimizer) ?? AdamWSettings()
    emaDecay = try c.decodeIfPresent(Float.self, forKey: .emaDecay) ?? 0.9999
    checkpointEvery = try c.decodeIfPresent(Int.self, forKey: .checkpointEvery) ?? 500
    logEvery = try c.decodeIfPresent(Int.self, forKey: .logEvery) ?? 10
    evalEvery = try c.decodeIfPresent(Int.self, forKey: .evalEvery) ?? 0
    evalRows = try c.decodeIfPresent(Int.self, forKey: .evalRows) ?? 256
    seed = try c.decodeIfPresent(UInt64.self, forKey: .seed) ?? 0
    try validate()
  }

  public func validate() throws {
    func require(_ ok: Bool, _ m: String) throws { if !ok { throw TrainingError.invalidSettings(m) } }
    try require(steps >= 0, "steps must be ≥ 0")
    try require(batchSize >= 1, "batch_size must be ≥ 1")
    try require(accumulation >= 1, "accumulation must be ≥ 1")
    try require(checkpointEvery >= 1 && logEvery >= 1 && evalEvery >= 0 && evalRows >= 0, "checkpoint_every and log_every must be ≥ 1")
    try require(emaDecay >= 0 && emaDecay < 1, "ema_decay must be in [0, 1)")
    try require(optimizer.learningRate > 0 && optimizer.learningRate.isFinite, "optimizer.lr must be positive")
    try require(optimizer.warmupSteps >= 0, "optimizer.warmup_steps must be ≥ 0")
  }
}

public enum TrainingError: Error, CustomStringConvertible {
  case invalidSettings(String)
  case nonFinite(step: Int, what: String, checkpoint: String)
  case incompatibleCheckpoint(String)
  case data(String)

  public var description: String {
    switch self {
    case .invalidSettings(let m): return "invalid training settings: \(m)"
    case .nonFinite(let step, let what, let checkpoint):
      return "the \(what) became non-finite at step \(step); training stopped. The last good checkpoint is kept: \(checkpoint). Lower the learning rate or raise warm-up, then rerun to resume from it."
    case .incompatibleCheckpoint(let m): return "cannot resume: \(m)"
    case .data(let m): return "training data: \(m)"
    }
  }
}
