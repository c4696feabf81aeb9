import Checkpoints
import Engine
import Formats
import Foundation
import Networks

/// A training run's files in its folder — `checkpoint.safetensors`, `metrics.jsonl`, and at the
/// end `model/` (EMA weights, what sampling and evaluation use) and `model-raw/` (raw weights).
/// The trainer's only way to the disk; `writes: false` (a data-parallel worker that is not the
/// primary) reads the same files and writes none.
public final class TrainingFiles {
  public let directory: URL
  public let writes: Bool

  public init(directory: URL, writes: Bool = true) {
    self.directory = directory
    self.writes = writes
  }

  public static let checkpointName = "checkpoint.safetensors"
  public static let averageFolder = "model"
  public static let rawFolder = "model-raw"

  public var checkpoint: URL { directory.appendingPathComponent(Self.checkpointName) }
  public var metrics: URL { directory.appendingPathComponent("metrics.jsonl") }
  /// The folder of the weights that play `choice` at the end of the run.
  public func model(_ choice: WeightChoice) -> URL {
    directory.appendingPathComponent(choice == .ema ? Self.averageFolder : Self.rawFolder)
  }

  var hasCheckpoint: Bool { FileManager.default.fileExists(atPath: checkpoint.path) }

  func prepare() throws {
    guard writes else { return }
    try FileError.wrap(directory.path, "create the folder") {
      try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }
    AtomicFile.removeStaleTemporaries(in: directory)
  }

  func saveCheckpoint(state: TrainingState, network: Network, average: Network, optimizer: AdamW,
                      settings: TrainingSettings, taskState: [(name: String, tensor: Tensor)]) throws {
    guard writes else { return }
    try TrainingCheckpoint.save(to: checkpoint, state: state, config: network.config, settings: settings,
                                parameters: network.parameters, ema: average.parameters, adam: optimizer,
                                taskState: taskState)
  }

  func append(_ line: MetricsLine) throws {
    guard writes else { return }
    let enc = JSONEncoder()
    enc.outputFormatting = [.sortedKeys]
    let data = try enc.encode(line) + Data("\n".utf8)
    try FileError.wrap(metrics.path, "append to") {
      if !FileManager.default.fileExists(atPath: metrics.path) {
        guard FileManager.default.createFile(atPath: metrics.path, contents: nil) else {
          throw FileError(path: metrics.path, operation: "create", code: errno)
        }
      }
      let handle = try FileHandle(forWritingTo: metrics)
      defer { try? handle.close() }
      try handle.seekToEnd()
      try handle.write(contentsOf: data)
    }
    FileSystemSteps.step(metrics.path)
  }

  /// Keeps the metric lines of steps ≤ `step` (a resumed run rewrites what came after).
  func trimMetrics(after step: Int) throws {
    guard writes, let text = try? String(contentsOf: metrics, encoding: .utf8) else { return }
    let kept = text.split(separator: "\n").filter { line in
      guard let parsed = try? JSONDecoder().decode(MetricsLine.self, from: Data(line.utf8)) else { return false }
      return parsed.step <= step
    }
    try AtomicFile.write(Data((kept.joined(separator: "\n") + (kept.isEmpty ? "" : "\n")).utf8), to: metrics)
  }

  /// The final model folders.
  func saveModels(average: Network, raw: Network) throws {
    guard writes else { return }
    try ModelFolder.save(average, to: model(.ema), metadata: ["weights": WeightChoice.ema.rawValue])
    try ModelFolder.save(raw, to: model(.raw), metadata: ["weights": WeightChoice.raw.rawValue])
  }

  var checkpointDescription: String { hasCheckpoint ? checkpoint.path : "none yet (no step was saved)" }
}
