import Checkpoints
import Cluster
import Corpus
import Engine
import Foundation
import MaskedDiffusion
import Networks
import Student
import Teacher

/// `pgm bench distill`: the two phases that scale out — teacher target generation (sharded by
/// batch) and student training (data-parallel) — timed through the code a run uses, on however
/// many ranks launched the leg. `prepare` writes the shared inputs once (a synthetic dataset and
/// a random teacher), then each leg generates `targetRows` rows into its own targets file (rank 0
/// writes) and trains a student on them for `steps` steps.
public enum DistillBenchmark {
  public struct Setup: Codable, Sendable {
    public var hiddenSize = 128
    public var heads = 4
    public var blocks = 2
    public var length = 128
    public var symbols = 64
    public var targetRows = 512
    public var teacherSteps = 2
    public var topK = 8
    public var steps = 32
    public var batch = 16
    public init() {}

    enum CodingKeys: String, CodingKey {
      case hiddenSize = "hidden_size", heads, blocks, length, symbols, targetRows = "target_rows"
      case teacherSteps = "teacher_steps", topK = "top_k", steps, batch
    }
  }

  /// One leg's figures (rank 0's clock, after a barrier on either side of each phase).
  public struct Leg: Codable, Sendable {
    public var ranks: Int
    public var threadsPerRank: Int
    public var targetRows: Int
    public var targetSeconds: Double
    public var targetRowsPerSecond: Double
    public var trainTokens: Int
    public var trainSeconds: Double
    public var trainTokensPerSecond: Double
    public var allreduceCallsPerStep: Double

    enum CodingKeys: String, CodingKey {
      case ranks, threadsPerRank = "threads_per_rank", targetRows = "target_rows", targetSeconds = "target_s"
      case targetRowsPerSecond = "target_rows_per_s", trainTokens = "train_tokens", trainSeconds = "train_s"
      case trainTokensPerSecond = "train_tokens_per_s", allreduceCallsPerStep = "allreduce_calls_per_step"
    }
  }

  static func config(_ s: Setup) -> ModelConfig {
    ModelConfig(kind: .pgm, vocabSize: s.symbols + 2, hiddenSize: s.hiddenSize, heads: s.heads, condDim: s.hiddenSize / 2,
                length: s.length, encoderBlocks: s.blocks, decoderBlocks: s.blocks, dropout: 0)
  }

  static func data(_ dir: URL) -> URL { dir.appendingPathComponent("tokens.h5") }
  static func teacher(_ dir: URL) -> URL { dir.appendingPathComponent("teacher") }

  /// The inputs every leg reads: a synthetic dataset and a teacher with random (non-trivial) weights.
  public static func prepare(in dir: URL, setup s: Setup) throws {
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    var o = SyntheticDatasetOptions(output: data(dir))
    o.symbols = s.symbols; o.length = s.length; o.sequences = max(256, s.targetRows); o.validationSequences = 16; o.seed = 1
    o.overwrite = true
    _ = try SyntheticDatasetBuilder.build(o)
    let network = try Network(config(s), seed: 1)
    var rng = RandomStream(seed: 2)
    for t in network.parameters.tensors { t.assign((0..<t.count).map { _ in Float(rng.normal()) * 0.02 }) }
    try ModelFolder.save(network, to: teacher(dir))
  }

  /// Runs one leg on `world`'s ranks; rank 0 returns the figures, the others nil.
  public static func leg(in dir: URL, setup s: Setup, world: Communicator, log: @escaping (String) -> Void) throws -> Leg? {
    let dataset = try TokenDataset(path: data(dir).path, expectedLength: s.length)
    let teacherNet = try ModelFolder.load(teacher(dir)).requireDenoiser("the benchmark teacher")
    let c = config(s)
    let targets = dir.appendingPathComponent("targets-\(world.size).h5")
    let batchRows = 64
    let h = TargetStore.Header(round: 1, dt: DiffusionTime.samplingStep(steps: 16), k: s.teacherSteps, spacing: .even, topK: s.topK,
                               vocabSize: c.vocabSize, maskId: c.maskIndex, length: s.length, seed: 7, teacherSHA256: "bench",
                               leaky: false, timeEpsilon: DiffusionTime.distillationFloor, rowsPlanned: s.targetRows,
                               batchRows: batchRows, entryChunk: 1024)
    var writer: TargetWriter?
    defer { try? writer?.close() }
    if world.isRoot {
      try? FileManager.default.removeItem(at: targets)
      writer = try TargetWriter(path: targets.path, header: h)
    }
    var buffer: [Int32] = []
    let generation = ShardedTargets(world: world, teacher: teacherNet, settings: TeacherSettings(steps: s.teacherSteps, dt: h.dt, topK: s.topK),
                                    header: h, cleanRow: { $0 % dataset.rowCount(.train) }, read: { rows in
      try dataset.read(.train, rows: rows, into: &buffer)
      return TokenTensor(shape: [rows.count, s.length], values: Array(buffer.prefix(rows.count * s.length)))
    })
    log("targets: \(s.targetRows) rows on \(world.size) rank(s) …")
    world.barrier()
    let t0 = Clock.now()
    try generation.run(from: 0, append: { b, final in try writer!.append(b, final: final) }, progress: { _ in })
    try writer?.close()
    writer = nil
    world.barrier()
    let targetSeconds = Clock.now() - t0

    log("training: \(s.steps) steps of \(s.batch) rows on \(world.size) rank(s) …")
    let reader = try TargetReader(path: targets.path)
    let student = try ModelFolder.load(teacher(dir))
    var settings = TrainingSettings(steps: s.steps, batchSize: s.batch)
    settings.checkpointEvery = s.steps
    settings.logEvery = s.steps
    settings.seed = 5
    let studentDir = dir.appendingPathComponent("student-\(world.size)")
    if world.isRoot { try? FileManager.default.removeItem(at: studentDir) }
    world.barrier()
    let reducer = world.gradientReducer
    let trainer = try Trainer(network: student, settings: settings, task: DistillationTask(source: reader, objective: DistillationObjective()),
                              files: TrainingFiles(directory: studentDir, writes: world.isRoot), label: "bench student",
                              log: { _ in }, reducer: reducer, slice: (world.rank, world.size))
    world.barrier()
    let t1 = Clock.now()
    _ = try trainer.run()
    world.barrier()
    let trainSeconds = Clock.now() - t1
    guard world.isRoot else { return nil }
    let tokens = s.steps * s.batch * s.length
    let calls = (reducer as? ClusterReduction).map { Double($0.calls) / Double(s.steps) } ?? 0
    return Leg(ranks: world.size, threadsPerRank: Parallel.workers, targetRows: s.targetRows, targetSeconds: targetSeconds,
               targetRowsPerSecond: Double(s.targetRows) / targetSeconds, trainTokens: tokens, trainSeconds: trainSeconds,
               trainTokensPerSecond: Double(tokens) / trainSeconds, allreduceCallsPerStep: calls)
  }
}
