import Checkpoints
import Corpus
import Distill
import Engine
import Foundation
import MaskedDiffusion
import Networks
import Teacher
import Testing

/// What the manifests cost for `runs/quickstart-sdtt.json` (the most files of the provided recipes): every file the quickstart writes, at its
/// real size (data, four training folders with checkpoint and two model folders, three targets
/// files of 25 600 rows with K = 65), hashed once as a phase completes and once more as a later
/// process verifies it. Run with `PGM_BENCH_INTEGRITY=1 swift test --filter IntegrityOverheadBenchmark`.
@Suite struct IntegrityOverheadBenchmark {
  @Test func quickstartHashingOverhead() throws {
    guard ProcessInfo.processInfo.environment["PGM_BENCH_INTEGRITY"] != nil else { return }
    let dir = scratchDirectory("integrity-bench")
    defer { try? FileManager.default.removeItem(at: dir) }
    let run = RunFolder(root: dir)
    let recipe = try Recipe.load(URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
      .deletingLastPathComponent().appendingPathComponent("runs/quickstart-sdtt.json"))
    guard case .synthetic(let s) = recipe.data, let d = recipe.distill else { return }
    // The data.
    try FileManager.default.createDirectory(at: run.data.deletingLastPathComponent(), withIntermediateDirectories: true)
    var o = SyntheticDatasetOptions(output: run.data)
    o.symbols = s.vocab; o.branching = s.branching; o.length = s.length; o.sequences = s.sequences; o.validationSequences = s.validation
    _ = try SyntheticDatasetBuilder.build(o)
    // Four training folders: a checkpoint (4 × the weights) and two model folders each.
    let config = try recipe.model.config(vocabularySize: s.vocab + 1, length: s.length)
    let network = try Network(config, seed: 1)
    var files: [URL] = [run.data]
    for part in [RunFolder.Trained.teacher, .student(round: 1), .student(round: 2), .student(round: 3)] {
      for choice in WeightChoice.allCases {
        try ModelFolder.save(network, to: run.model(part, choice))
        files.append(run.weights(part, choice))
      }
      let weights = try Data(contentsOf: run.weights(part, .ema))
      try FileManager.default.createDirectory(at: run.directory(of: part), withIntermediateDirectories: true)
      try Data(repeating: 7, count: weights.count * 4).write(to: run.checkpoint(part))
      files.append(run.checkpoint(part))
    }
    // Three targets files of the quickstart's size (random values: compress worse than real ones).
    let l = s.length, k = d.topK, v = s.vocab + 2
    for r in 1...d.rounds {
      try FileManager.default.createDirectory(at: run.round(r), withIntermediateDirectories: true)
      let header = TargetStore.Header(round: r, dt: 0.1, k: 2, spacing: .even, topK: k, vocabSize: v, maskId: v - 1, length: l,
                                      seed: 1, teacherSHA256: "x", leaky: false, timeEpsilon: 1e-5, rowsPlanned: d.targetsPerRound,
                                      batchRows: 64, entryChunk: 1024)
      let writer = try TargetWriter(path: run.targets(round: r).path, header: header)
      var rng = RandomStream(seed: UInt64(r))
      var row = 0
      while row < d.targetsPerRound {
        var tokens: [Int32] = []
        for _ in 0..<(64 * l) { tokens.append(rng.uniformDouble() < 0.5 ? Int32(v - 1) : Int32(rng.int(below: v - 1))) }
        let m = tokens.filter { $0 == Int32(v - 1) }.count
        let batch = TargetBatch(inputs: TokenTensor(shape: [64, l], values: tokens), times: (0..<64).map { _ in rng.uniformDouble() },
                                targets: SparseDistributions(rows: m, k: k, ids: (0..<(m * k)).map { Int32($0 % (v - 1)) },
                                                             logProbs: (0..<(m * k)).map { _ in -Float(rng.uniformDouble()) * 6 },
                                                             tailLogMass: (0..<m).map { _ in -Float(rng.uniformDouble()) * 9 }))
        try writer.append(batch, final: row + 64 >= d.targetsPerRound)
        row += 64
      }
      try writer.close()
    }
    let ledger = RunLedger(run: run, log: { _ in })
    let t0 = Date()
    _ = try ledger.finish(.data, consumed: [:], outputs: files)  // every file, hashed once
    for r in 1...d.rounds { _ = try ledger.finish(.targets(round: r), consumed: [:], outputs: [run.targets(round: r)]) }
    let seconds = Date().timeIntervalSince(t0)
    let bytes = try files.reduce(0) { $0 + (try FileManager.default.attributesOfItem(atPath: $1.path)[.size] as! Int) }
    let targetBytes = try (1...d.rounds).reduce(0) { $0 + (try FileManager.default.attributesOfItem(atPath: run.targets(round: $1).path)[.size] as! Int) }
    print(String(format: "quickstart integrity overhead: %.1f MB of files and %d MB of targets files (on disk) hashed once in %.2f s; "
                   + "a run from scratch hashes each once, a rerun verifies each once", Double(bytes) / 1e6, targetBytes / 1_000_000, seconds))
  }
}
