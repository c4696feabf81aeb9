import Formats
import Checkpoints
import Cluster
import Corpus
import Engine
import Foundation
import MaskedDiffusion
import Networks
import Student
import Teacher

/// `pgm distill`: SDTT rounds on top of a pretrained teacher (SPEC §6). Round r generates targets
/// with the current teacher (k steps of size dt_r = (1 − 1e-5)/S0 · k^(r−1)), trains the student to
/// match them in one step, saves it, and makes it the next teacher, until S0/k^R steps. Every phase
/// resumes: targets continue at the first uncommitted row, training at its last checkpoint, and a
/// finished phase is not redone.
public struct Distillation {
  public let recipe: Recipe
  public let spec: DistillSpec
  public let run: RunFolder
  public let dataset: TokenDataset
  public var log: (String) -> Void
  /// The ranks of an mpirun job: targets are sharded, training is data-parallel, rank 0 writes.
  public var world: Communicator = .single

  public init(recipe: Recipe, run: RunFolder, dataset: TokenDataset, log: @escaping (String) -> Void) throws {
    guard let spec = recipe.distill else { throw RecipeError.invalid(recipe.name, "has no 'distill' section") }
    let v = dataset.modelVocabularySize
    guard spec.topK <= v else {
      throw RecipeError.invalid("distill", "top_k = \(spec.topK) exceeds the vocabulary (V = \(v) with the mask; a target holds at most V − 1 = \(v - 1) tokens)")
    }
    self.recipe = recipe
    self.spec = spec
    self.run = run
    self.dataset = dataset
    self.log = log
  }

  /// Time spent per round, for the report.
  public struct RoundTiming: Codable {
    public var round: Int
    public var steps: Int
    public var targetSeconds: Double
    public var trainingSeconds: Double
    enum CodingKeys: String, CodingKey {
      case round, steps, targetSeconds = "target_generation_s", trainingSeconds = "student_training_s"
    }
  }

  /// The weights folder of round r's student that plays `choice` (EMA → model/, raw → model-raw/).
  func studentFolder(_ r: Int, _ choice: WeightChoice) -> URL { run.model(.student(round: r), choice) }

  /// The teacher of round r: the pretrained network for r = 1, else round r−1's student.
  func teacherFolder(round r: Int) -> URL {
    if r == 1 { return run.model(.teacher, spec.start) }
    return studentFolder(r - 1, spec.nextTeacher)
  }

  /// The phase that trained round r's teacher.
  func teacherPhase(round r: Int) -> RunPhase { r == 1 ? .teacher : .student(round: r - 1) }

  var ledger: RunLedger { RunLedger(run: run, log: log) }

  public func distill() throws -> [RoundTiming] {
    var timings: [RoundTiming] = []
    for r in 1...spec.rounds {
      let steps = spec.studentSteps(round: r)
      log("round \(r)/\(spec.rounds): the student learns \(steps) steps from \(spec.k) teacher steps of dt = 1/\(steps * spec.k)")
      let t0 = Clock.now()
      try generateTargets(round: r)
      let t1 = Clock.now()
      try trainStudent(round: r)
      let t2 = Clock.now()
      let timing = RoundTiming(round: r, steps: steps, targetSeconds: t1 - t0, trainingSeconds: t2 - t1)
      timings.append(try world.rootOnly { try recordTiming(timing) })
    }
    return timings
  }

  /// The time split recorded by the rounds that finished (for reports written later by `pgm eval`).
  public static func recordedTimings(run: RunFolder, rounds: Int) -> [RoundTiming] {
    (0..<rounds).compactMap { readTiming(run: run, round: $0 + 1) }
  }

  static func timingURL(run: RunFolder, round r: Int) -> URL { run.round(r).appendingPathComponent("timing.json") }

  static func readTiming(run: RunFolder, round r: Int) -> RoundTiming? {
    guard let data = try? Data(contentsOf: timingURL(run: run, round: r)) else { return nil }
    return try? JSONDecoder().decode(RoundTiming.self, from: data)
  }

  /// Adds this process's time to what earlier (interrupted) processes spent on the round.
  func recordTiming(_ t: RoundTiming) throws -> RoundTiming {
    var total = t
    if let old = Self.readTiming(run: run, round: t.round) {
      total.targetSeconds += old.targetSeconds
      total.trainingSeconds += old.trainingSeconds
    }
    let enc = JSONEncoder()
    enc.outputFormatting = [.prettyPrinted, .sortedKeys]
    try AtomicFile.write(try enc.encode(total), to: Self.timingURL(run: run, round: t.round))
    return total
  }

  // MARK: targets

  func header(round r: Int, teacherSHA: String, vocabSize: Int, maskId: Int) -> TargetStore.Header {
    TargetStore.Header(round: r, dt: dt(round: r), k: spec.k, spacing: spec.spacing, topK: spec.topK, vocabSize: vocabSize,
                       maskId: maskId, length: dataset.length, seed: recipe.seed(for: "targets-\(r)"),
                       teacherSHA256: teacherSHA, leaky: spec.normalization == .leaky, timeEpsilon: DiffusionTime.distillationFloor,
                       rowsPlanned: spec.targetsPerRound, batchRows: targetBatchRows,
                       entryChunk: 1024, times: spec.times, cleanPrefix: spec.maskBOS ? 0 : 1,
                       order: spec.teacherOrder)
  }

  var targetBatchRows: Int { min(64, spec.targetsPerRound) }

  /// Teacher step size of round r.
  func dt(round r: Int) -> Double {
    DiffusionTime.samplingStep(steps: spec.s0) * pow(Double(spec.k), Double(r - 1))
  }

  func generateTargets(round r: Int) throws {
    let teacherDir = teacherFolder(round: r)
    let weights = teacherDir.appendingPathComponent(ModelFolder.weightsFile)
    // The teacher's weights as its phase recorded them (verified), never a file changed since.
    let sha = try world.rootOnly { try ledger.recordedDigest(weights, of: teacherPhase(round: r)) }
    let config = try ModelFolder.readConfig(teacherDir.appendingPathComponent(ModelFolder.configFile))
    let h = header(round: r, teacherSHA: sha, vocabSize: config.vocabSize, maskId: config.maskIndex)
    try ledger.ensure(.targets(round: r), world: world, consumed: {
      ["header": FileDigest.sha256(of: "\(h)"), "phase:teacher": try ledger.identity(of: teacherPhase(round: r)),
       "phase:data": try ledger.identity(of: .data)]
    }) {
      try writeTargets(round: r, header: h, teacherDir: teacherDir)
      return [run.targets(round: r)]
    }
  }

  func writeTargets(round r: Int, header h: TargetStore.Header, teacherDir: URL) throws {
    let teacher = try ModelFolder.load(teacherDir).requireDenoiser("the SDTT teacher")
    // Rank 0 opens (or resumes) the one targets file; every rank starts at its first uncommitted row.
    var writer: TargetWriter?
    defer { try? writer?.close() }
    let start = try world.rootOnly { () -> Int in
      try FileError.wrap(run.round(r).path, "create the folder") {
        try FileManager.default.createDirectory(at: run.round(r), withIntermediateDirectories: true)
      }
      let w = try TargetWriter(path: run.targets(round: r).path, header: h)
      writer = w
      if w.isFinished || w.committedRows >= h.rowsPlanned {
        log("round \(r): targets complete (\(w.committedRows) rows)")
        return h.rowsPlanned
      }
      if w.committedRows > 0 { log("round \(r): resuming target generation at row \(w.committedRows)") }
      return w.committedRows
    }
    if start >= h.rowsPlanned { return }
    var settings = TeacherSettings(steps: spec.k, dt: h.dt, spacing: spec.spacing, normalization: spec.normalization,
                                   topK: spec.topK)
    settings.targetTimes = spec.times
    settings.cleanPrefix = h.cleanPrefix
    settings.order = h.order
    // Clean rows: a seeded permutation of the training split, repeated if the round needs more.
    var order = RandomStream(seed: h.seed).derive("rows")
    let perm = order.permutation(dataset.rowCount(.train))
    let meter = ProgressMeter(label: "round \(r) targets", total: h.rowsPlanned, unit: "rows", alreadyDone: start, sink: log)
    let dataset = self.dataset
    var buffer: [Int32] = []
    let generation = ShardedTargets(world: world, teacher: teacher, settings: settings, header: h,
                                    cleanRow: { perm[$0 % perm.count] }, read: { rows in
      try dataset.read(.train, rows: rows, into: &buffer)
      return TokenTensor(shape: [rows.count, dataset.length], values: Array(buffer.prefix(rows.count * dataset.length)))
    })
    try generation.run(from: start, append: { batch, final in try writer!.append(batch, final: final) },
                       progress: { meter.update($0) })
  }

  // MARK: student

  func trainStudent(round r: Int) throws {
    var settings = spec.student
    settings.seed = recipe.seed(for: "student")
    settings.steps = spec.student.steps * r
    let consumed = ["recipe.distill": try FileDigest.sha256(json: spec), "settings": try FileDigest.sha256(json: settings)]
    let identities = { () throws -> [String: String] in
      var consumed = consumed
      consumed["phase:targets"] = try ledger.identity(of: .targets(round: r))
      consumed["phase:data"] = try ledger.identity(of: .data)
      consumed["phase:teacher"] = try ledger.identity(of: teacherPhase(round: r))
      if r > 1 { consumed["phase:previous"] = try ledger.identity(of: .student(round: r - 1)) }
      return consumed
    }
    var trained = false
    try ledger.ensure(.student(round: r), world: world, consumed: identities) {
      try trainStudent(round: r, settings: settings)
      trained = true
      return [run.student(round: r)]
    }
    if !trained { log("round \(r): student already trained (\(settings.steps) steps)") }
  }

  func trainStudent(round r: Int, settings: TrainingSettings) throws {
    let reader = try TargetReader(path: run.targets(round: r).path)
    guard reader.rowCount >= 1 else { throw TargetStoreError.corrupt(reader.path, "no committed rows") }
    // Round 1 starts from the pretrained weights the recipe names; later rounds continue the
    // previous round's student run (weights, EMA, optimizer state and schedule carry on).
    let start = try ModelFolder.load(r == 1 ? teacherFolder(round: 1) : studentFolder(r - 1, .raw))
    let previous = r == 1 ? nil : run.checkpoint(.student(round: r - 1))
    let task: TrainingTask
    let reducer = world.gradientReducer
    switch spec.method {
    case .sdtt:
      task = DistillationTask(source: reader, objective: spec.objective)
    case .dmmd:
      // The distribution to sample from is the original teacher's; the auxiliary starts as it.
      let original = run.model(.teacher, .ema)
      task = try MomentMatchingTask(source: reader, teacher: try ModelFolder.load(original).requireDenoiser("the teacher"),
                                    auxiliary: try ModelFolder.load(original).requireDenoiser("the auxiliary model"),
                                    studentSteps: spec.studentSteps(round: r), settings: spec.dmmd ?? MomentMatchingSettings(),
                                    objective: spec.objective, reducer: reducer)
    }
    // With EMA as the next teacher the student also continues from its EMA, as the reference's
    // use_ema_on_growth does (teacher and student start each round from the same weights).
    let begin: TrainingStart = previous.map { .continuing(checkpoint: $0, fromAverage: spec.nextTeacher == .ema) } ?? .fresh
    let trainer = try Trainer(network: start, settings: settings, task: task,
                              files: TrainingFiles(directory: run.directory(of: .student(round: r)), writes: world.isRoot),
                              start: begin, label: "round \(r) student", log: log, reducer: reducer,
                              slice: (world.rank, world.size))
    _ = try trainer.run()
    guard world.isRoot else { return }
    let evaluator = run.model(.evaluator, .ema)
    for weights in WeightChoice.allCases {
      let out = trainer.files.model(weights)
      if let tok = dataset.tokenizerURL { try ModelFolder.copyTokenizer(tok, into: out) }
      try ModelProvenance(dataset: Pretraining.absolutePath(dataset.path),
                          evaluator: FileManager.default.fileExists(atPath: evaluator.path) ? evaluator.path : nil,
                          run: run.root.path, round: r, weights: weights).relative(to: out, within: run.root).write(to: out)
    }
  }
}
