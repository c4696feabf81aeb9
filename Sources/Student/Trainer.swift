import Checkpoints
import Engine
import Foundation
import Networks

/// Rows of token ids the trainer reads batches from (an HDF5 split, or memory in tests).
public protocol BatchSource: AnyObject {
  var length: Int { get }
  var rowCount: Int { get }
  /// Copies the given rows, each `length` ids, into `buffer` (resized by the callee if needed).
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
  let train: BatchSource
  let validation: BatchSource?
  public let directory: URL
  let optimizer: AdamW
  let ema: WeightAverage
  private(set) var state: TrainingState
  /// Where progress lines go (standard error by default).
  public var log: (String) -> Void = ProgressMeter.standardError
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

  /// `network` holds the starting weights (fresh, or imported); a checkpoint in `directory` wins.
  public init(network: DiffusionNetwork, settings: TrainingSettings, train: BatchSource, validation: BatchSource?,
              directory: URL) throws {
    try settings.validate()
    guard train.length == network.config.length else {
      throw TrainingError.data("rows have \(train.length) tokens, the network was configured for \(network.config.length)")
    }
    guard train.rowCount >= 1 else { throw TrainingError.data("the training split is empty") }
    self.network = network
    self.settings = settings
    self.train = train
    self.validation = validation
    self.directory = directory
    average = try makeNetwork(network.config)
    optimizer = AdamW(parameters: network.parameters, settings: settings.optimizer)
    ema = WeightAverage(shadow: average.parameters, startingFrom: network.parameters, decay: settings.emaDecay)
    state = TrainingState(rng: RandomStream(seed: settings.seed).derive("noise"))
  }

  var checkpointURL: URL { directory.appendingPathComponent(TrainingCheckpoint.fileName) }
  var metricsURL: URL { directory.appendingPathComponent("metrics.jsonl") }

  /// Picks up `checkpoint.safetensors` if present (same config and settings, `steps` may grow).
  func resumeIfPossible() throws -> Int {
    guard FileManager.default.fileExists(atPath: checkpointURL.path) else { return 0 }
    let loaded = try TrainingCheckpoint.read(checkpointURL)
    guard loaded.config == network.config else {
      throw TrainingError.incompatibleCheckpoint("\(checkpointURL.path) was written for another network config; use another output folder or remove it")
    }
    var a = loaded.settings, b = settings
    a.steps = 0; b.steps = 0
    guard a == b else {
      throw TrainingError.incompatibleCheckpoint("\(checkpointURL.path) was written with other training settings; use another output folder or remove it")
    }
    try TrainingCheckpoint.restore(loaded, parameters: network.parameters, ema: average.parameters, adam: optimizer)
    ema.restore(updates: loaded.state.emaUpdates)
    state = loaded.state
    try trimMetrics(after: state.step)
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
        permutation = r.permutation(train.rowCount)
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
    if resumedFrom > 0 { log("resuming from step \(resumedFrom) (\(checkpointURL.path))") }
    let meter = ProgressMeter(label: "pretrain", total: settings.steps, alreadyDone: state.step, sink: log)
    let l = train.length, b = settings.batchSize
    var buffer = [Int32](repeating: 0, count: b * l)
    let start = Clock.now()
    var tokensThisRun = 0
    var lastLoss: Double?
    var validationNLL: Double?

    while state.step < settings.steps {
      beforeStep?(state.step + 1)
      var grads = [Tensor?](repeating: nil, count: network.parameters.count)
      var lossSum = 0.0
      for micro in 0..<settings.accumulation {
        try train.read(rows: nextRows(b), into: &buffer)
        let x0 = TokenTensor(shape: [b, l], values: buffer)
        // Dropout masks are a function of (seed, step, micro-batch): identical after a resume.
        var keyStream = RandomStream(seed: settings.seed ^ (UInt64(state.step) &* 0x9E37_79B9_7F4A_7C15) ^ UInt64(micro))
        let g = Graph(recording: true, training: true, dropoutSeed: keyStream.next())
        let result = TrainingObjective.loss(g, network: network, x0: x0, rng: &state.rng)
        let loss = Double(result.loss.value[flat: 0])
        guard loss.isFinite else {
          throw TrainingError.nonFinite(step: state.step + 1, what: "loss", checkpoint: lastCheckpointDescription)
        }
        lossSum += loss
        g.backward(from: result.loss, seed: Tensor.filled([1], 1 / Float(settings.accumulation)))
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
      state.tokensSeen += b * l * settings.accumulation
      tokensThisRun += b * l * settings.accumulation
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

  /// Validation NLL of the EMA weights on the first `evalRows` validation rows, fixed randomness.
  public func evaluate() throws -> Double? {
    guard let validation, settings.evalRows > 0, validation.rowCount > 0 else { return nil }
    let rows = min(settings.evalRows, validation.rowCount)
    var rng = RandomStream(seed: settings.seed).derive("validation")
    var total = 0.0, count = 0
    var buffer: [Int32] = []
    var start = 0
    while start < rows {
      let n = min(settings.batchSize, rows - start)
      try validation.read(rows: Array(start..<(start + n)), into: &buffer)
      let x0 = TokenTensor(shape: [n, validation.length], values: Array(buffer.prefix(n * validation.length)))
      total += TrainingObjective.validationNLL(network: average, x0: x0, rng: &rng) * Double(n)
      count += n
      start += n
    }
    return total / Double(count)
  }
}
