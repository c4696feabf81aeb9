import Checkpoints
import Engine
import Foundation
import Networks
import Student
import Testing

/// Rows held in memory.
final class MemoryRows: BatchSource {
  let length: Int
  let rows: [[Int32]]
  init(_ rows: [[Int32]]) { self.rows = rows; length = rows[0].count }
  var rowCount: Int { rows.count }
  func read(rows indices: [Int], into buffer: inout [Int32]) throws {
    buffer = indices.flatMap { rows[$0] }
  }
}

/// A learnable toy language: BOS then a cycle 1→2→…→(k)→1 from a random start.
func cycleRows(_ n: Int, length: Int, symbols: Int, seed: UInt64) -> [[Int32]] {
  var rng = RandomStream(seed: seed)
  return (0..<n).map { _ in
    var s = rng.int(below: symbols)
    return [Int32(symbols)] + (1..<length).map { _ in defer { s = (s + 1) % symbols }; return Int32(s) }
  }
}

func tinyConfig(_ kind: ModelConfig.Kind, length: Int = 12, symbols: Int = 5) -> ModelConfig {
  ModelConfig(kind: kind, vocabSize: symbols + 2, hiddenSize: 16, heads: 2, condDim: 8, length: length,
              encoderBlocks: kind == .pgm ? 1 : 0, decoderBlocks: kind == .pgm ? 1 : 0, blocks: kind == .pgm ? 0 : 2,
              dropout: 0.1)
}

func temporaryDirectory(_ name: String) -> URL {
  let url = FileManager.default.temporaryDirectory.appendingPathComponent("pgm-tests-\(name)-\(UUID().uuidString)")
  try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
  return url
}

@Suite struct TrainerTests {
  let data = MemoryRows(cycleRows(64, length: 12, symbols: 5, seed: 1))
  let validation = MemoryRows(cycleRows(16, length: 12, symbols: 5, seed: 2))

  func settings(steps: Int) -> TrainingSettings {
    TrainingSettings(steps: steps, batchSize: 8, accumulation: 2, optimizer: AdamWSettings(learningRate: 3e-3, warmupSteps: 5),
                     emaDecay: 0.99, checkpointEvery: 4, logEvery: 1, evalEvery: 0, evalRows: 16, seed: 3)
  }

  @Test(arguments: [ModelConfig.Kind.pgm, .mdlm, .ar])
  func lossGoesDown(_ kind: ModelConfig.Kind) throws {
    let dir = temporaryDirectory("loss")
    defer { try? FileManager.default.removeItem(at: dir) }
    let trainer = try Trainer(network: try Network(tinyConfig(kind), seed: 1), settings: settings(steps: 80),
                              train: data, validation: validation, files: TrainingFiles(directory: dir), log: { _ in })
    let before = try trainer.evaluate()!
    let summary = try trainer.run()
    #expect(summary.validationNLL! < before * 0.85, "validation NLL \(before) → \(summary.validationNLL!)")
    #expect(FileManager.default.fileExists(atPath: dir.appendingPathComponent("model/model.safetensors").path))
    #expect(FileManager.default.fileExists(atPath: dir.appendingPathComponent("model-raw/config.json").path))
  }

  /// Stopping after a checkpoint and rerunning gives bitwise the weights and the metric lines of an
  /// uninterrupted run (the data order, times, masks and dropout all come from saved state).
  @Test func resumeIsExact() throws {
    let a = temporaryDirectory("straight"), b = temporaryDirectory("resumed")
    defer { try? FileManager.default.removeItem(at: a); try? FileManager.default.removeItem(at: b) }
    let cfg = tinyConfig(.pgm)
    let straight = try Trainer(network: try Network(cfg, seed: 1), settings: settings(steps: 12), train: data,
                               validation: validation, files: TrainingFiles(directory: a), log: { _ in })
    _ = try straight.run()
    // Interrupted: run to step 8 (a checkpoint), then a fresh process object continues to 12.
    let first = try Trainer(network: try Network(cfg, seed: 1), settings: settings(steps: 8), train: data,
                            validation: validation, files: TrainingFiles(directory: b), log: { _ in })
    _ = try first.run()
    let second = try Trainer(network: try Network(cfg, seed: 99), settings: settings(steps: 12), train: data,
                             validation: validation, files: TrainingFiles(directory: b), log: { _ in })
    let summary = try second.run()
    #expect(summary.resumedFrom == 8)
    for (x, y) in zip(straight.network.parameters.tensors, second.network.parameters.tensors) { #expect(x.toArray() == y.toArray()) }
    for (x, y) in zip(straight.average.parameters.tensors, second.average.parameters.tensors) { #expect(x.toArray() == y.toArray()) }
    func losses(_ dir: URL) throws -> [String] {
      try String(contentsOf: dir.appendingPathComponent("metrics.jsonl"), encoding: .utf8).split(separator: "\n")
        .map { line in
          let obj = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
          return "\(obj["step"]!) \(obj["loss"] ?? "-") \(obj["grad_norm"] ?? "-")"
        }
    }
    #expect(try losses(a) == losses(b))
  }

  @Test func nonFiniteLossStopsAndKeepsTheLastCheckpoint() throws {
    let dir = temporaryDirectory("nan")
    defer { try? FileManager.default.removeItem(at: dir) }
    let network = try Network(tinyConfig(.pgm), seed: 1)
    let trainer = try Trainer(network: network, settings: settings(steps: 20), train: data, validation: validation,
                              files: TrainingFiles(directory: dir), log: { _ in },
                              beforeStep: { step in if step == 6 { network.parameters.tensors[0][flat: 0] = .nan } })
    let ckpt = dir.appendingPathComponent("checkpoint.safetensors")
    #expect {
      _ = try trainer.run()
    } throws: { error in
      "\(error)".contains("non-finite at step 6") && "\(error)".contains(ckpt.path)
    }
    // The checkpoint of step 4 survives and a rerun resumes from it.
    let resumed = try Trainer(network: try Network(tinyConfig(.pgm), seed: 1), settings: settings(steps: 5),
                              train: data, validation: validation, files: TrainingFiles(directory: dir), log: { _ in })
    #expect(try resumed.run().resumedFrom == 4)
  }

  @Test func refusesACheckpointOfAnotherRun() throws {
    let dir = temporaryDirectory("other")
    defer { try? FileManager.default.removeItem(at: dir) }
    let t1 = try Trainer(network: try Network(tinyConfig(.pgm), seed: 1), settings: settings(steps: 4), train: data,
                         validation: nil, files: TrainingFiles(directory: dir), log: { _ in })
    _ = try t1.run()
    var other = settings(steps: 8)
    other.batchSize = 4
    let t2 = try Trainer(network: try Network(tinyConfig(.pgm), seed: 1), settings: other, train: data,
                         validation: nil, files: TrainingFiles(directory: dir), log: { _ in })
    #expect(throws: TrainingError.self) { _ = try t2.run() }
  }
}
