import Dispatch
import Engine
import Foundation
import MaskedDiffusion
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
  let objective: DistillationObjective
  private let queue = DispatchQueue(label: "pgm.targets.prefetch")
  /// Rows of the read in flight (main thread only) and its result (written by the reader before it
  /// signals, read after the wait).
  private var inFlight: [Int]?
  private let box = ResultBox()
  private let ready = DispatchSemaphore(value: 0)

  final class ResultBox: @unchecked Sendable { var result: Result<TargetBatch, Error>? }

  public init(source: TargetSource, objective: DistillationObjective) {
    self.source = source
    self.objective = objective
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

  public func loss(_ g: Graph, network: Network, rows: [Int], upcoming: [Int],
                   rng: inout RandomStream) throws -> Var {
    try loss(g, network: network, part: BatchPart(global: rows, range: rows.indices), upcoming: upcoming, rng: &rng).loss
  }

  public var splitsBetweenWorkers: Bool { true }

  /// The stored targets hold all the randomness, so a worker reads only its rows; the loss is the
  /// mean over its masked positions, which are its terms.
  public func loss(_ g: Graph, network: Network, part: BatchPart, upcoming: [Int], rng: inout RandomStream) throws -> PartLoss {
    let student = try network.requireDenoiser("distillation")
    let batch = try fetch(part.rows)
    prefetch(rows: upcoming)
    return PartLoss(loss: objective.loss(g, student: student, batch: batch), terms: Double(batch.targets.rows))
  }
}

/// What the student's prediction is compared with the stored targets by (SPEC §6): the divergence,
/// the normalisation (the same `MaskedLogSoftmax` the teacher's targets were written with) and how
/// the tail beyond the stored top K counts.
public struct DistillationObjective: Sendable, Equatable {
  public var divergence: Divergence
  public var normalization: MaskNormalization
  public var tail: TailTreatment

  public init(divergence: Divergence = .reverseKL, normalization: MaskNormalization = .normalized,
              tail: TailTreatment = .spread) {
    self.divergence = divergence; self.normalization = normalization; self.tail = tail
  }

  /// Mean divergence over the masked positions of the batch between the student's one-pass
  /// prediction and the teacher targets.
  public func loss(_ g: Graph, student: Denoiser, batch: TargetBatch) -> Var {
    let predicted = MaskedPrediction(g, student, tokens: batch.inputs)
    precondition(predicted.positions.count == batch.targets.rows,
                 "\(batch.targets.rows) targets for \(predicted.positions.count) masked positions")
    return g.distillationLoss(predicted.logits, targets: batch.targets, divergence: divergence,
                              mask: student.config.maskIndex, normalization: normalization, tail: tail)
  }
}
