import Engine
import Networks

/// Rows of token ids the trainer reads batches from (an HDF5 split, or memory in tests).
public protocol BatchSource: AnyObject {
  var length: Int { get }
  var rowCount: Int { get }
  /// Copies the given rows, each `length` ids, into the start of `buffer` (grown if too short).
  func read(rows: [Int], into buffer: inout [Int32]) throws
}

/// What a training loop optimises: rows of some data and the loss of a batch of them. Pretraining
/// and each SDTT round are tasks of the same loop (checkpoints, resume, EMA, NaN guard are shared).
public protocol TrainingTask: AnyObject {
  /// Rows one epoch visits.
  var rowCount: Int { get }
  /// The loss of `rows` on a recording graph. `upcoming` are the next call's rows (a task may
  /// start reading them in the background). `rng` is the run's saved noise stream.
  func loss(_ g: Graph, network: Network, rows: [Int], upcoming: [Int], rng: inout RandomStream) throws -> Var
  /// Validation loss of `network` (the EMA weights), deterministic; nil when the task has none.
  func validationLoss(network: Network) throws -> Double?
  /// Tokens in a batch of `rows` rows (for throughput figures).
  func tokens(rows: Int) -> Int
  /// Tensors the task trains besides the network (an on-policy method's auxiliary model and its
  /// optimizer moments): saved in the training checkpoint and restored on resume. Shared handles:
  /// restoring assigns into them.
  var state: [(name: String, tensor: Tensor)] { get }
  /// Whether `loss(_:network:part:…)` can compute a part of a global batch that other workers
  /// complete (data parallelism); a task that cannot runs on one worker only.
  var splitsBetweenWorkers: Bool { get }
  /// The loss of this worker's part of a global batch, as the mean over its own terms, and how
  /// many terms that mean is over (so that the workers' parts add up to the global mean). The
  /// randomness drawn from `rng` must be that of the whole global batch, so that every worker's
  /// stream stays the same and a row's noise does not depend on how many workers there are.
  func loss(_ g: Graph, network: Network, part: BatchPart, upcoming: [Int], rng: inout RandomStream) throws -> PartLoss
}

/// This worker's rows of a global batch: `global[range]`.
public struct BatchPart: Sendable, Equatable {
  public var global: [Int]
  public var range: Range<Int>
  public init(global: [Int], range: Range<Int>) { self.global = global; self.range = range }
  public var rows: [Int] { Array(global[range]) }
  public var isWhole: Bool { range == global.indices }
}

/// A worker's loss over its part of a batch: the mean over `terms` terms (rows, or masked positions),
/// weighted by its share of the terms of all workers; or, with `terms` nil, already this worker's
/// share of the global loss (a task whose loss has several means over different terms sums the
/// counts over the workers itself), taken as it is.
public struct PartLoss {
  public var loss: Var
  public var terms: Double?
  public init(loss: Var, terms: Double) { self.loss = loss; self.terms = terms }
  public init(share loss: Var) { self.loss = loss; terms = nil }
}

extension TrainingTask {
  public func validationLoss(network: Network) throws -> Double? { nil }
  public var state: [(name: String, tensor: Tensor)] { [] }
  public var splitsBetweenWorkers: Bool { false }

  /// A task that does not split: the whole batch, its rows as terms.
  public func loss(_ g: Graph, network: Network, part: BatchPart, upcoming: [Int], rng: inout RandomStream) throws -> PartLoss {
    guard part.isWhole else { throw TrainingError.invalidSettings("\(Self.self) cannot split its batches between workers") }
    return PartLoss(loss: try loss(g, network: network, rows: part.rows, upcoming: upcoming, rng: &rng),
                    terms: Double(part.range.count))
  }
}

/// Pretraining on clean rows: the ELBO of SPEC §4 (or next-token NLL for `ar` networks).
public final class PretrainingTask: TrainingTask {
  let train: BatchSource
  let validation: BatchSource?
  let validationRows: Int
  let batchSize: Int
  let seed: UInt64
  private var buffer: [Int32] = []

  public init(train: BatchSource, validation: BatchSource?, validationRows: Int, batchSize: Int, seed: UInt64) {
    self.train = train; self.validation = validation; self.validationRows = validationRows
    self.batchSize = batchSize; self.seed = seed
  }

  public var rowCount: Int { train.rowCount }
  public func tokens(rows: Int) -> Int { rows * train.length }

  public func loss(_ g: Graph, network: Network, rows: [Int], upcoming: [Int],
                   rng: inout RandomStream) throws -> Var {
    try loss(g, network: network, part: BatchPart(global: rows, range: rows.indices), upcoming: upcoming, rng: &rng).loss
  }

  public var splitsBetweenWorkers: Bool { true }

  /// Each worker reads its rows and draws the noise of the whole batch (times stratified over it,
  /// masks row after row), keeping its rows' share: the same noise per row whatever the split.
  public func loss(_ g: Graph, network: Network, part: BatchPart, upcoming: [Int], rng: inout RandomStream) throws -> PartLoss {
    let rows = part.rows
    try train.read(rows: rows, into: &buffer)
    let x0 = TokenTensor(shape: [rows.count, train.length], values: Array(buffer.prefix(rows.count * train.length)))
    let loss = TrainingObjective.loss(g, network: network, x0: x0, within: (part.range.lowerBound, part.global.count), rng: &rng).loss
    return PartLoss(loss: loss, terms: Double(rows.count))
  }

  /// NLL per token of the first `validationRows` validation rows, with fixed randomness.
  public func validationLoss(network: Network) throws -> Double? {
    guard let validation else { return nil }
    return try TrainingObjective.validationNLL(network: network, source: validation, rows: validationRows,
                                               batchSize: batchSize, seed: seed)
  }
}
