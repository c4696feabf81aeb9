import Foundation
import Networks

/// What an export records beyond the network: the token ids a sampler needs, the data and its
/// tokenizer, how the model samples, how it was distilled, and files that travel with it. The
/// reference's own configuration holds most of this in its Hydra sections (`sampling`, `noise`,
/// `parameterization`, `tokenizer`); without it a PyTorch user has to guess the BOS id (its
/// sampler asserts one) or the step count a student was distilled for.
///
/// `ModelExport.write(modelFolder:)` fills what the model folder itself says (`folder(_:)`);
/// the Distill module adds what the recorded dataset and the run's recipe say.
public struct ExportContext: Sendable {
  /// The token ids and the tokenizer.
  public struct Tokens: Sendable, Equatable {
    /// Position 0 of every sequence (the reference's `tokenizer.bos_token_id`).
    public var bosId: Int32
    /// Where `bosId` comes from, e.g. "the dataset's bos_id attribute".
    public var bosSource: String
    /// The id that ends a document (text), nil when the data has none (synthetic rows).
    public var eosId: Int32?
    /// The tokenizer's identity (`kind/size/sha256:…`), nil when unknown.
    public var tokenizer: String?

    public init(bosId: Int32, bosSource: String, eosId: Int32? = nil, tokenizer: String? = nil) {
      self.bosId = bosId; self.bosSource = bosSource; self.eosId = eosId; self.tokenizer = tokenizer
    }
  }

  /// The data the network was trained on.
  public struct DataFacts: Sendable, Equatable {
    /// "synthetic" or "text".
    public var kind: String
    /// The token dataset as the run recorded it (absolute, or relative to an export inside the run), nil when unknown.
    public var path: String?

    public init(kind: String, path: String? = nil) { self.kind = kind; self.path = path }
  }

  /// How the model is meant to be sampled.
  public struct SamplingFacts: Sendable, Equatable {
    /// The step count it was distilled for (students) or evaluated at; nil: one token per step (L).
    public var steps: Int?
    /// The partition sampler: false = the reference's `efficient-uniform`, true = `efficient-non-uniform`.
    public var nonUniform: Bool

    public init(steps: Int? = nil, nonUniform: Bool = false) { self.steps = steps; self.nonUniform = nonUniform }
  }

  /// How an SDTT student was distilled (SPEC §6), in the reference's terms where it has them.
  public struct DistillationFacts: Sendable, Equatable {
    public var rounds: Int
    /// S0: the original teacher's step count.
    public var teacherSteps: Int
    /// k: teacher steps per student step.
    public var teacherStepsPerStudentStep: Int
    /// The step count of this student: S0 / k^rounds.
    public var studentSteps: Int
    /// The reference's `distill_mode` (`kl-bwd`, `kl-fwd`, `mse`, `tvd`), or this project's name
    /// for a divergence the reference lacks.
    public var divergence: String
    /// Teacher times: "even" (the paper) or "reference" (the public codes' formula).
    public var spacing: String
    /// Targets normalised without the mask column (this project), or the reference's leaky ones.
    public var normalizedTargets: Bool
    /// Optimizer steps per round (the reference's `grow_dt_every`).
    public var optimizerStepsPerRound: Int
    /// The next round's teacher took the student's EMA weights (`use_ema_on_growth`).
    public var emaTeacherOnGrowth: Bool
    /// Which of the student's weights were exported: "ema" or "raw".
    public var weights: String

    public init(rounds: Int, teacherSteps: Int, teacherStepsPerStudentStep: Int, studentSteps: Int, divergence: String,
                spacing: String, normalizedTargets: Bool, optimizerStepsPerRound: Int, emaTeacherOnGrowth: Bool,
                weights: String) {
      self.rounds = rounds; self.teacherSteps = teacherSteps; self.teacherStepsPerStudentStep = teacherStepsPerStudentStep
      self.studentSteps = studentSteps; self.divergence = divergence; self.spacing = spacing
      self.normalizedTargets = normalizedTargets; self.optimizerStepsPerRound = optimizerStepsPerRound
      self.emaTeacherOnGrowth = emaTeacherOnGrowth; self.weights = weights
    }
  }

  /// A file written beside the weights (e.g. `markov_source.json`).
  public struct ExtraFile: Sendable, Equatable {
    public var name: String
    public var contents: Data
    /// One line for the model card.
    public var description: String

    public init(name: String, contents: Data, description: String) {
      self.name = name; self.contents = contents; self.description = description
    }
  }

  /// nil: unknown; the export then states the id `pgm sample` assumes (the one below the mask).
  public var tokens: Tokens?
  public var data: DataFacts?
  public var sampling = SamplingFacts()
  public var distillation: DistillationFacts?
  /// Written as `provenance.json` (paths as recorded; `pgm eval` checks they still exist).
  public var provenance: ModelProvenance?
  /// Tokenizer files copied beside the weights (`tokenizer.json`, `vocab.json`, …).
  public var tokenizerFiles: [URL] = []
  public var extraFiles: [ExtraFile] = []
  /// Pretraining's time floor ε_s (SPEC §4: 1e-3); SDTT students train with 1e-5.
  public var trainingTimeEpsilon: Double { distillation == nil ? 1e-3 : 1e-5 }

  public init(tokens: Tokens? = nil, data: DataFacts? = nil, sampling: SamplingFacts = SamplingFacts(),
              distillation: DistillationFacts? = nil, provenance: ModelProvenance? = nil, tokenizerFiles: [URL] = [],
              extraFiles: [ExtraFile] = []) {
    self.tokens = tokens; self.data = data; self.sampling = sampling; self.distillation = distillation
    self.provenance = provenance; self.tokenizerFiles = tokenizerFiles; self.extraFiles = extraFiles
  }

  /// The ids as exported: `tokens`, or the id below the mask (what `pgm sample` assumes).
  func resolvedTokens(_ config: ModelConfig) -> Tokens {
    tokens ?? Tokens(bosId: Int32(config.maskIndex - 1),
                     bosSource: "assumed: the id below the mask (pgm sample's default); neither the data nor a tokenizer was available at export")
  }

  /// Paths into the run folder the export is written inside become relative to the export folder
  /// (as the run's own model folders record them), so that the run folder can be moved whole and
  /// two runs of one recipe export the same bytes. Exports written elsewhere keep absolute paths.
  public mutating func relativiseRunPaths(exportFolder: URL) {
    guard let run = provenance?.run else { return }
    let root = URL(fileURLWithPath: run).standardizedFileURL
    guard exportFolder.standardizedFileURL.path.hasPrefix(root.path + "/") else { return }
    provenance = provenance?.relative(to: exportFolder, within: root)
    if let path = data?.path {
      data?.path = ModelProvenance(dataset: path).relative(to: exportFolder, within: root).dataset
    }
  }

  /// What a model folder says about itself: `provenance.json`, tokenizer files, a Markov source
  /// (`markov_source.json`), and — for a folder that is itself an export — the ids, data,
  /// sampling and distillation facts of its `config.json`.
  public static func folder(_ dir: URL) -> ExportContext {
    var context = ExportContext()
    context.provenance = ModelProvenance.read(dir)
    context.tokenizerFiles = ModelFolder.tokenizerFiles(in: dir)
    let markov = dir.appendingPathComponent(ModelFolder.markovSourceFile)
    if let contents = try? Data(contentsOf: markov) {
      context.extraFiles.append(ExtraFile(name: ModelFolder.markovSourceFile, contents: contents,
                                          description: ExtraFile.markovDescription))
    }
    if let exported = try? ExportedFacts.read(dir.appendingPathComponent(ModelFolder.configFile)) {
      context.tokens = exported.tokens
      context.data = exported.data
      context.sampling = exported.sampling
      context.distillation = exported.distillation
    }
    return context
  }
}

extension ExportContext.ExtraFile {
  static let markovDescription = "`markov_source.json`: the synthetic Markov source the data was drawn from (successor table, "
    + "probabilities, stationary distribution), so that `pgm eval --model` scores samples exactly without the token file"
}
