import Checkpoints
import Formats
import Engine
import Foundation
import Networks

/// Where a training run starts when its folder holds no checkpoint of its own.
public enum TrainingStart {
  /// From the network's current weights (fresh, or imported).
  case fresh
  /// From another run's checkpoint of the same network and settings (but for `steps`): weights,
  /// EMA, optimizer state, step count and noise stream carry on; the data order restarts (the data
  /// is new). `fromAverage`: continue from that run's EMA weights instead of its raw ones, and
  /// restart the EMA from them (the reference's `use_ema_on_growth`).
  case continuing(checkpoint: URL, fromAverage: Bool)
}

/// The training loop: data order, the step core (`TrainingStep`), checkpoints every N steps and an
/// exact resume, metrics, validation, progress and a NaN guard. Collaborators come in through the
/// initialiser: the task (what is learnt), the files (where state lives), the gradient reducer
/// (how workers combine). Pretraining and every SDTT round use it.
public final class Trainer {
  public let settings: TrainingSettings
  public let files: TrainingFiles
  let core: TrainingStep
  let start: TrainingStart
  let label: String
  let log: (String) -> Void
  /// This worker's slice of every global batch (data parallelism): rows `slice` of each batch.
  let slice: (index: Int, count: Int)
  /// Called with the step about to run; tests use it to inject faults (e.g. a diverged weight).
  public let beforeStep: ((Int) -> Void)?
  private(set) var state: TrainingState

  public var network: Network { core.network }
  public var average: Network { core.average }

  public struct Summary: Codable {
    public var steps: Int
    public var finalLoss: Double?
    public var validationNLL: Double?
    public var tokensPerSecond: Double
    public var seconds: Double
    public var resumedFrom: Int
    enum CodingKeys: String, CodingKey {
      case steps, finalLoss = "final_loss", validationNLL = "val_nll", tokensPerSecond = "tokens_per_s", seconds
      case resumedFrom = "resumed_from"
    }
  }

  /// - Parameters:
  ///   - network: the starting weights (fresh, or imported); a checkpoint in `files` wins.
  ///   - slice: (this worker, workers) — each global batch of `settings.batchSize` rows is split
  ///     between the workers, whose gradients `reducer` sums.
  public init(network: Network, settings: TrainingSettings, task: TrainingTask, files: TrainingFiles,
              start: TrainingStart = .fresh, label: String = "pretrain", log: @escaping (String) -> Void,
              reducer: GradientReducer = LocalReduction(), slice: (index: Int, count: Int) = (0, 1),
              beforeStep: ((Int) -> Void)? = nil) throws {
    try settings.validate()
    guard task.rowCount >= 1 else { throw TrainingError.data("no training rows") }
    guard slice.count >= 1, slice.index >= 0, slice.index < slice.count, settings.batchSize >= slice.count else {
      throw TrainingError.invalidSettings("batch_size \(settings.batchSize) cannot be split over \(slice.count) workers")
    }
    guard slice.count == 1 || task.splitsBetweenWorkers else {
      throw TrainingError.invalidSettings("this training task (\(type(of: task))) runs on one process only; launch it without mpirun")
    }
    self.settings = settings
    self.files = files
    self.start = start
    self.label = label
    self.log = log
    self.slice = slice
    self.beforeStep = beforeStep
    core = try TrainingStep(network: network, settings: settings, task: task, reducer: reducer)
    state = TrainingState(rng: RandomStream(seed: settings.seed).derive("noise"))
  }

  /// Pretraining on clean rows of `train` (validation on `validation`).
  public convenience init(network: Network, settings: TrainingSettings, train: BatchSource, validation: BatchSource?,
                          files: TrainingFiles, label: String = "pretrain", log: @escaping (String) -> Void,
                          reducer: GradientReducer = LocalReduction(), slice: (index: Int, count: Int) = (0, 1),
                          beforeStep: ((Int) -> Void)? = nil) throws {
    guard train.length == network.config.length else {
      throw TrainingError.data("rows have \(train.length) tokens, the network was configured for \(network.config.length)")
    }
    let task = PretrainingTask(train: train, validation: validation, validationRows: settings.evalRows,
                               batchSize: settings.batchSize, seed: settings.seed)
    try self.init(network: network, settings: settings, task: task, files: files, label: label, log: log,
                  reducer: reducer, slice: slice, beforeStep: beforeStep)
  }

  /// Picks up the folder's checkpoint if present (same config and settings, `steps` may grow),
  /// else the `start` checkpoint if any. Returns the step resumed from (0: fresh).
  func resumeIfPossible() throws -> Int {
    let own = files.hasCheckpoint
    let url: URL
    switch (own, start) {
    case (true, _): url = files.checkpoint
    case (false, .continuing(let checkpoint, _)): url = checkpoint
    case (false, .fresh): return 0
    }
    let loaded = try TrainingCheckpoint.read(url)
    guard loaded.config == network.config else {
      throw TrainingError.incompatibleCheckpoint("\(url.path) was written for another network config; use another output folder or remove it")
    }
    var a = loaded.settings, b = settings
    a.steps = 0; b.steps = 0
    guard a == b else {
      throw TrainingError.incompatibleCheckpoint("\(url.path) was written with other training settings; use another output folder or remove it")
    }
    guard loaded.state.step <= settings.steps else {
      throw TrainingError.incompatibleCheckpoint("\(url.path) is at step \(loaded.state.step), beyond the \(settings.steps) steps asked for")
    }
    try TrainingCheckpoint.restore(loaded, parameters: network.parameters, ema: average.parameters, adam: core.optimizer,
                                   taskState: core.task.state, taskStateRequired: own)
    core.ema.restore(updates: loaded.state.emaUpdates)
    state = loaded.state
    if own {
      try files.trimMetrics(after: state.step)
    } else {
      state.epoch = 0
      state.cursor = 0
      if case .continuing(_, fromAverage: true) = start {
        network.parameters.copy(from: average.parameters)
        core.ema.restore(updates: 0)
        state.emaUpdates = 0
      }
    }
    log("\(label): continuing from step \(state.step) (\(url.path))")
    return state.step
  }

  /// The next `n` row indices of the data order (permutations per epoch, drawn from the seed).
  private var permutation: [Int] = []
  private var permutationEpoch = -1
  func nextRows(_ n: Int) -> [Int] {
    var rows: [Int] = []
    rows.reserveCapacity(n)
    while rows.count < n {
      if permutationEpoch != state.epoch {
        var r = RandomStream(seed: settings.seed).derive("data-epoch-\(state.epoch)")
        permutation = r.permutation(core.task.rowCount)
        permutationEpoch = state.epoch
      }
      let take = min(n - rows.count, permutation.count - state.cursor)
      rows += permutation[state.cursor..<(state.cursor + take)]
      state.cursor += take
      if state.cursor == permutation.count { state.epoch += 1; state.cursor = 0 }
    }
    return rows
  }

  /// This worker's part of a global batch.
  func mine(_ rows: [Int]) -> BatchPart {
    let lo = rows.count * slice.index / slice.count, hi = rows.count * (slice.index + 1) / slice.count
    return BatchPart(global: rows, range: lo..<hi)
  }

  /// Runs until `settings.steps`, resuming first if a checkpoint exists.
  public func run() throws -> Summary {
    try files.prepare()
    let resumedFrom = try resumeIfPossible()
    let meter = ProgressMeter(label: label, total: settings.steps, alreadyDone: state.step, sink: log)
    let b = settings.batchSize
    let begin = Clock.now()
    var tokensThisRun = 0
    var lastLoss: Double?
    var validationNLL: Double?
    // With several workers a stop request is acted on once every worker knows of it (it travels
    // with the step's sums), so that all stop after the same step instead of one waiting forever.
    var stopAgreed = false

    var savedStep = state.step
    while state.step < settings.steps {
      if slice.count == 1 ? Interruption.requested != nil : stopAgreed {
        // A safe point: keep every finished step, then stop.
        if state.step > savedStep {
          try files.saveCheckpoint(state: state, network: network, average: average, optimizer: core.optimizer, settings: settings,
                                   taskState: core.task.state)
        }
        try Interruption.check()
        throw Interrupted(signal: SIGTERM)  // another worker's request
      }
      beforeStep?(state.step + 1)
      var batches: [BatchPart] = [], upcoming: [[Int]] = []
      for _ in 0..<settings.accumulation {
        let rows = nextRows(b)
        // The next batch is read in the background while this one trains (peeked: the saved data
        // position must not run ahead of the steps taken, or a resume would skip a batch).
        let (epoch, cursor) = (state.epoch, state.cursor)
        let next = nextRows(b)
        (state.epoch, state.cursor) = (epoch, cursor)
        batches.append(mine(rows))
        upcoming.append(mine(next).rows)
      }
      let outcome: TrainingStep.Outcome
      do {
        outcome = try core.run(step: state.step, batches: batches, upcoming: upcoming,
                               interrupted: Interruption.requested != nil, rng: &state.rng)
      } catch TrainingStep.Failure.nonFinite(let what) {
        throw TrainingError.nonFinite(step: state.step + 1, what: what, checkpoint: files.checkpointDescription)
      }
      stopAgreed = outcome.stopRequested
      state.step += 1
      state.emaUpdates = core.ema.updates
      state.adamStep = core.optimizer.step
      state.tokensSeen += core.task.tokens(rows: b) * settings.accumulation
      tokensThisRun += core.task.tokens(rows: b) * settings.accumulation
      lastLoss = outcome.loss
      let rate = Double(tokensThisRun) / max(Clock.now() - begin, 1e-9)

      if state.step % settings.logEvery == 0 || state.step == settings.steps {
        try files.append(.step(StepMetrics(step: state.step, loss: outcome.loss, gradNorm: outcome.gradientNorm,
                                           learningRate: Double(settings.optimizer.learningRate(at: state.step)),
                                           tokensPerSecond: rate, tokensSeen: state.tokensSeen)))
      }
      if state.step % settings.checkpointEvery == 0 || state.step == settings.steps {
        try files.saveCheckpoint(state: state, network: network, average: average, optimizer: core.optimizer,
                                 settings: settings, taskState: core.task.state)
        savedStep = state.step
      }
      if settings.evalEvery > 0 && state.step % settings.evalEvery == 0 && state.step < settings.steps {
        validationNLL = try evaluate()
        if let v = validationNLL { try files.append(.validation(ValidationMetrics(step: state.step, valNLL: v))) }
      }
      meter.update(state.step, detail: String(format: "loss %.4f  %.0f tok/s", outcome.loss, rate))
    }

    if let v = try evaluate() {
      validationNLL = v
      log(String(format: "validation NLL %.4f nats/token (PPL %.3f), EMA weights", v, exp(v)))
    }
    try files.saveModels(average: average, raw: network)
    let seconds = Clock.now() - begin
    return Summary(steps: state.step, finalLoss: lastLoss, validationNLL: validationNLL,
                   tokensPerSecond: Double(tokensThisRun) / max(seconds, 1e-9), seconds: seconds, resumedFrom: resumedFrom)
  }

  /// Validation loss of the EMA weights (the task's own, deterministic), if the task has one.
  public func evaluate() throws -> Double? { try core.task.validationLoss(network: average) }
}
