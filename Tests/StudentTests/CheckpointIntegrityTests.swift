import Foundation
import Networks
import Student
import Testing

/// A training checkpoint damaged on disk is refused on resume, naming the file, instead of resuming
/// from altered weights or Adam moments.
@Suite struct CheckpointIntegrityTests {
  @Test func aFlippedByteInTheCheckpointStopsTheResume() throws {
    let dir = temporaryDirectory("corrupt-checkpoint")
    defer { try? FileManager.default.removeItem(at: dir) }
    let data = MemoryRows(cycleRows(32, length: 12, symbols: 5, seed: 1))
    func trainer(steps: Int) throws -> Trainer {
      let settings = TrainingSettings(steps: steps, batchSize: 8, accumulation: 1, optimizer: AdamWSettings(learningRate: 3e-3),
                                      emaDecay: 0.99, checkpointEvery: 2, logEvery: 1, evalEvery: 0, evalRows: 8, seed: 3)
      return try Trainer(network: try Network(tinyConfig(.pgm), seed: 1), settings: settings, train: data,
                         validation: nil, files: TrainingFiles(directory: dir), log: { _ in })
    }
    _ = try trainer(steps: 2).run()
    let checkpoint = dir.appendingPathComponent("checkpoint.safetensors")
    var bytes = [UInt8](try Data(contentsOf: checkpoint))
    bytes[bytes.count - 3] ^= 0x01  // inside the last tensor (an Adam moment)
    try Data(bytes).write(to: checkpoint)
    #expect {
      _ = try trainer(steps: 4).run()
    } throws: { error in
      String(describing: error).contains(checkpoint.path + " is corrupt: checksum mismatch")
    }
  }
}
