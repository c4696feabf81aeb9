import Checkpoints
import Engine
import Foundation
import Networks

/// Rows of token ids the trainer reads batches from (an HDF5 split, or memory in tests).
public protocol BatchSource: AnyObject {
  var length: Int { get }
  var rowCount: Int { get }
  /// Copies the given rows, each `length` ids, into the start of `buffer` (grown if too short).
  func read(rows: [Int], into buffer: inout [Int32]) throws
}

/// Pretraining loop: AdamW with warm-up and clipping, EMA, dropout, gradient accumulation,
/// atomic checkpoints every N steps and an exact resume, metrics as JSON lines, a NaN guard.
///
/// Files in `directory`: `checkpoint.safetensors`, `metrics.jsonl`, and at the end `model/` (EMA
/// weights, what sampling and evaluation use) and `model-raw/` (the raw weights).
public final class Trainer {
  public let network: DiffusionNetwork
  public let average: DiffusionNetwork
  public let settings: TrainingSettings
  let task: TrainingTask
  public let directory: URL
  /// A checkpoint to start from when `directory` has none (the previous SDTT round's).
  let startFrom: URL?
  let optimizer: AdamW
  let ema: WeightAverage
  private(set) var state: TrainingState
  /// The progress lines' label.
  public var label = "pretrain"
  /// Where progress lines go (standard error by default).
  public var log: (String) -> Void = ProgressMeter.standardError
  /// When starting from `startFrom` (not when resuming from this directory's own checkpoint):
  /// continue from that run's EMA weights instead of its raw ones, and restart the EMA from them
  /// (the reference's `use_ema_on_growth`). Optimizer state and schedule carry on either way.
  public var continueFromAverage = false
  /// Called with the step about to run; tests use it to inject faults (e.g. a diverged weight).
  public var beforeStep: ((Int) -> Void)?

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

  /// Pretraining on clean rows. `network` holds the starting weights (fresh, or imported); a
  /// checkpoint in `directory` wins.
  public convenience init(network: DiffusionNetwork, settings: TrainingSettings, train: BatchSource, validation: BatchSource?,
                          directory: URL) throws {
    guard train.length == network.config.length else {
      throw TrainingError.data("rows have \(train.length) tokens, the network was configured for \(network.config.length)")
    }
    let task = PretrainingTask(train: train, validation: validation, validationRows: settings.evalRows,
                               batchSize: settings.batchSize, seed: settings.seed)
    try self.init(network: network, settings: settings, task: task, directory: directory)
  }

  /// Any task. `startFrom`: a checkpoint of the same network and settings (but for `steps`) to
  /// continue from when `directory` holds none: weights, EMA, optimizer state, step count and noise
  /// stream carry on; the data order restarts (the data is new).
  public init(network: DiffusionNetwork, settings: TrainingSettings, task: TrainingTask, directory: URL,
              startFrom: URL? = nil) throws {
    try settings.validate()
    guard task.rowCount >= 1 else { throw TrainingError.data("no training rows") }
    self.network = network
    self.settings = settings
    self.task = task
    self.directory = directory
    self.startFrom = startFrom
    average = try makeNetwork(network.config)
    optimizer = AdamW(parameters: network.parameters, settings: settings.optimizer)
    ema = WeightAverage(shadow: average.parameters, startingFrom: network.parameters, decay: settings.emaDecay)
    state = TrainingState(rng: RandomStream(seed: settings.seed).derive("noise"))
  }

  var checkpointURL: URL { directory.appendingPathComponent(TrainingCheckpoint.fileName) }
  var metricsURL: URL { directory.appendingPathComponent("metrics.jsonl") }

  /// Picks up `checkpoint.safetensors` if present (same config and settings, `steps` may grow),
  /// else `startFrom` if given. Returns the step resumed from (0: fresh).
  func resumeIfPossible() throws -> Int {
    let own = FileManager.default.fileExists(atPath: checkpointURL.path)
    guard let url = own ? checkpointURL : startFrom else { return 0 }
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
    try TrainingCheckpoint.restore(loaded, parameters: network.parameters, ema: average.parameters, adam: optimizer)
    ema.restore(updates: loaded.state.emaUpdates)
    state = loaded.state
    if own {
      try trimMetrics(after: state.step)
    } else {
      state.epoch = 0
      state.cursor = 0
      if continueFromAverage {
        network.parameters.copy(from: average.parameters)
        ema.restore(updates: 0)
        state.emaUpdates = 0
      }
    }
    return state.step
  }

  /// Keeps the metric lines of steps ≤ `step` (a resumed run rewrites what came after).
  func trimMetrics(after step: Int) throws {
    guard let text = try? String(contentsOf: metricsURL, encoding: .utf8) else { return }
    let kept = text.split(separator: "\n").filter { line in
      guard let data = line.data(using: .utf8),
            let obj = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
            let s = obj["step"] as? Int else { return false }
      return s <= step
    }
    try atomicWrite(Data((kept.joined(separator: "\n") + (kept.isEmpty ? "" : "\n")).utf8), to: metricsURL)
  }

  func appendMetrics(_ fields: [String: Any]) throws {
    let data = try JSONSerialization.data(withJSONObject: fields, options: [.sortedKeys])
    let handle: FileHandle
    if FileManager.default.fileExists(atPath: metricsURL.path) {
      handle = try FileHandle(forWritingTo: metricsURL)
      try handle.seekToEnd()
    } else {
      FileManager.default.createFile(atPath: metricsURL.path, contents: nil)
      handle = try FileHandle(forWritingTo: metricsURL)
    }
    try handle.write(contentsOf: data + Data("\n".utf8))
    try handle.close()
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
        permutation = r.permutation(task.rowCount)
        permutationEpoch = state.epoch
      }
      let take = min(n - rows.count, permutation.count - state.cursor)
      rows += permutation[state.cursor..<(state.cursor + take)]
      state.cursor += take
      if state.cursor == permutation.count { state.epoch += 1; state.cursor = 0 }
    }
    return rows
  }

  /// Runs until `settings.steps`, resuming first if a checkpoint exists.
  public func run() throws -> Summary {
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    let resumedFrom = try resumeIfPossible()
    if resumedFrom > 0 {
      let from = FileManager.default.fileExists(atPath: checkpointURL.path) ? checkpointURL : startFrom!
      log("\(label): continuing from step \(resumedFrom) (\(from.path))")
    }
    let meter = ProgressMeter(label: label, total: settings.steps, alreadyDone: state.step, sink: log)
    let b = settings.batchSize
    let start = Clock.now()
    var tokensThisRun = 0
    var lastLoss: Double?
    var validationNLL: Double?

    while state.step < settings.steps {
      beforeStep?(state.step + 1)
      var grads = [Tensor?](repeating: nil, count: network.parameters.count)
      var lossSum = 0.0
      for micro in 0..<settings.accumulation {
        let rows = nextRows(b)
        // The next batch is read in the background while this one trains (peeked: the saved data
        // position must not run ahead of the steps taken, or a resume would skip a batch).
        let (epoch, cursor) = (state.epoch, state.cursor)
        let upcoming = nextRows(b)
        (state.epoch, state.cursor) = (epoch, cursor)
        // Dropout masks are a function of (seed, step, micro-batch): identical after a resume.
        var keyStream = RandomStream(seed: settings.seed ^ (UInt64(state.step) &* 0x9E37_79B9_7F4A_7C15) ^ UInt64(micro))
        let g = Graph(recording: true, training: true, dropoutSeed: keyStream.next())
        let lossVar = try task.loss(g, network: network, rows: rows, upcoming: upcoming, rng: &state.rng)
        let loss = Double(lossVar.value[flat: 0])
        guard loss.isFinite else {
          throw TrainingError.nonFinite(step: state.step + 1, what: "loss", checkpoint: lastCheckpointDescription)
        }
        lossSum += loss
        g.backward(from: lossVar, seed: Tensor.filled([1], 1 / Float(settings.accumulation)))
        for (i, p) in network.parameters.tensors.enumerated() {
          guard let grad = g.gradient(ofParameter: p) else { continue }
          if let acc = grads[i] { OptimizerKernels.accumulate(acc, grad) } else { grads[i] = grad }
        }
      }
      let norm = optimizer.apply(grads)
      guard norm.isFinite else {
        throw TrainingError.nonFinite(step: state.step + 1, what: "gradient norm", checkpoint: lastCheckpointDescription)
      }
      ema.update(from: network.parameters)
      state.step += 1
      state.emaUpdates = ema.updates
      state.adamStep = optimizer.step
      state.tokensSeen += task.tokens(rows: b) * settings.accumulation
      tokensThisRun += task.tokens(rows: b) * settings.accumulation
      let loss = lossSum / Double(settings.accumulation)
      lastLoss = loss
      let rate = Double(tokensThisRun) / max(Clock.now() - start, 1e-9)

      if state.step % settings.logEvery == 0 || state.step == settings.steps {
        try appendMetrics(["step": state.step, "loss": loss, "grad_norm": norm,
                           "lr": Double(settings.optimizer.learningRate(at: state.step)),
                           "tokens_per_s": rate, "tokens_seen": state.tokensSeen])
      }
      if state.step % settings.checkpointEvery == 0 || state.step == settings.steps { try saveCheckpoint() }
      if settings.evalEvery > 0 && state.step % settings.evalEvery == 0 && state.step < settings.steps {
        validationNLL = try evaluate()
        if let v = validationNLL { try appendMetrics(["step": state.step, "val_nll": v, "val_ppl": exp(v)]) }
      }
      meter.update(state.step, detail: String(format: "loss %.4f  %.0f tok/s", loss, rate))
    }

    if let v = try evaluate() {
      validationNLL = v
      log(String(format: "validation NLL %.4f nats/token (PPL %.3f), EMA weights", v, exp(v)))
    }
    try ModelFolder.save(average, to: directory.appendingPathComponent("model"), metadata: ["weights": "ema"])
    try ModelFolder.save(network, to: directory.appendingPathComponent("model-raw"), metadata: ["weights": "raw"])
    let seconds = Clock.now() - start
    return Summary(steps: state.step, finalLoss: lastLoss, validationNLL: validationNLL,
                   tokensPerSecond: Double(tokensThisRun) / max(seconds, 1e-9), seconds: seconds, resumedFrom: resumedFrom)
  }

  var lastCheckpointDescription: String {
    FileManager.default.fileExists(atPath: checkpointURL.path) ? checkpointURL.path : "none yet (no step was saved)"
  }

  func saveCheckpoint() throws {
    try TrainingCheckpoint.save(to: checkpointURL, state: state, config: network.config, settings: settings,
                                parameters: network.parameters, ema: average.parameters, adam: optimizer)
  }

  /// Validation loss of the EMA weights (the task's own, deterministic), if the task has one.
  public func evaluate() throws -> Double? { try task.validationLoss(network: average) }
}
