import Dispatch
import Engine
import Foundation
import Networks

/// Stored teacher targets, read by rows (a round's targets file, or memory in tests).
public protocol TargetSource: AnyObject {
  var rowCount: Int { get }
  /// Tokens per row (L).
  var length: Int { get }
  func batch(rows: [Int]) throws -> TargetBatch
}

/// One SDTT round for the student: match the stored teacher targets at every masked position of
/// x_t with one pass of the student (the packed path for the partition network) under the chosen
/// divergence (SPEC §6).
public final class DistillationTask: TrainingTask {
  let source: TargetSource
  let divergence: Divergence
  let leaky: Bool
  private let queue = DispatchQueue(label: "pgm.targets.prefetch")
  /// Rows of the read in flight (main thread only) and its result (written by the reader before it
  /// signals, read after the wait).
  private var inFlight: [Int]?
  private let box = ResultBox()
  private let ready = DispatchSemaphore(value: 0)

  final class ResultBox: @unchecked Sendable { var result: Result<TargetBatch, Error>? }

  public init(source: TargetSource, divergence: Divergence, leaky: Bool) {
    self.source = source
    self.divergence = divergence
    self.leaky = leaky
  }

  public var rowCount: Int { source.rowCount }
  public func tokens(rows: Int) -> Int { rows * source.length }

  /// Reads the next batch on a background thread while the current step computes.
  func prefetch(rows: [Int]) {
    if inFlight != nil { ready.wait() }  // at most one read in flight
    inFlight = rows
    let source = self.source, box = self.box, ready = self.ready
    queue.async {
      box.result = Result { try source.batch(rows: rows) }
      ready.signal()
    }
  }

  func fetch(_ rows: [Int]) throws -> TargetBatch {
    if let requested = inFlight {
      ready.wait()
      inFlight = nil
      if requested == rows, let result = box.result { return try result.get() }
    }
    return try source.batch(rows: rows)
  }

  public func loss(_ g: Graph, network: DiffusionNetwork, rows: [Int], upcoming: [Int],
                   rng: inout RandomStream) throws -> Var {
    let batch = try fetch(rows)
    prefetch(rows: upcoming)
    return DistillationLoss.loss(g, student: network, batch: batch, divergence: divergence, leaky: leaky)
  }
}

public enum DistillationLoss {
  /// Mean divergence over the masked positions of the batch between the student's one-pass
  /// prediction and the teacher targets.
  public static func loss(_ g: Graph, student: DiffusionNetwork, batch: TargetBatch, divergence: Divergence,
                          leaky: Bool) -> Var {
    let predicted = student.maskedPositionLogits(g, tokens: batch.inputs)
    precondition(predicted.positions.count == batch.targets.rows,
                 "\(batch.targets.rows) targets for \(predicted.positions.count) masked positions")
    return g.distillationLoss(predicted.logits, targets: batch.targets, divergence: divergence.kind,
                              mask: student.config.maskIndex, leaky: leaky)
  }
}

extension Divergence {
  var kind: DivergenceKind {
    switch self {
    case .reverseKL: return .reverseKL
    case .forwardKL: return .forwardKL
    case .mse: return .mse
    case .totalVariation: return .totalVariation
    case .logL1: return .logL1
    }
  }
}
