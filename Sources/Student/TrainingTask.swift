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
}

extension TrainingTask {
  public func validationLoss(network: Network) throws -> Double? { nil }
  public var state: [(name: String, tensor: Tensor)] { [] }
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
    try train.read(rows: rows, into: &buffer)
    let x0 = TokenTensor(shape: [rows.count, train.length], values: Array(buffer.prefix(rows.count * train.length)))
    return TrainingObjective.loss(g, network: network, x0: x0, rng: &rng).loss
  }

  /// NLL per token of the first `validationRows` validation rows, with fixed randomness.
  public func validationLoss(network: Network) throws -> Double? {
    guard let validation else { return nil }
    return try TrainingObjective.validationNLL(network: network, source: validation, rows: validationRows,
                                               batchSize: batchSize, seed: seed)
  }
}
