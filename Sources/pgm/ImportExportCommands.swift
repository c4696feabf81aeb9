import ArgumentParser
import Distill
import Checkpoints
import Foundation
import Networks

/// `pgm import SRC --out DIR [--weights ema|raw] [--json]`
struct ImportCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "import",
    abstract: "Import a reference checkpoint (PyTorch Lightning .ckpt, or a Hugging Face style folder) into a model folder.",
    discussion: """
      SRC is a .ckpt written by the reference code (jdeschena/pgm, jdeschena/sdtt), a folder with model.safetensors \
      and config.json (kuleshov-group/mdlm-owt, the SDTT students, folders written by `pgm export`), or a \
      .safetensors file (with config.json beside it, if any). The architecture is inferred from the tensor names \
      and shapes and cross-checked with the checkpoint's configuration; every tensor is checked. Writes \
      DIR/model.safetensors (reference names, float32) and DIR/config.json.
      """)

  @Argument(help: "The checkpoint: a .ckpt file, a model folder or a .safetensors file.")
  var source: String

  @Option(help: "The folder to write (created if needed).")
  var out: String

  @Option(help: "ema (default for .ckpt: ema.shadow_params, what the reference evaluates) or raw (state_dict).")
  var weights: WeightChoice?

  @Option(help: "Attention heads, if neither the configuration nor a rotary buffer states it.")
  var heads: Int?

  @Option(help: "Sequence length L, if the configuration does not state it.")
  var length: Int?

  @Option(help: "GroupSwap pre-query mode (learn, learn+freqs, learn+freqs+mean, learn+freqs+logsumexp), if the configuration does not state it.")
  var preQueryMode: ModelConfig.PreQueryMode?

  @Flag(help: "Print one JSON object instead of the summary.")
  var json = false

  func run() throws {
    let options = ImportOptions(weights: weights,
                                overrides: ArchitectureOverrides(heads: heads, length: length, preQueryMode: preQueryMode))
    let summary = try reportingErrors {
      try ModelImport.run(source: URL(fileURLWithPath: source), to: URL(fileURLWithPath: out), options: options)
    }
    print(json ? try Output.json(summary) : summary.text)
  }
}

/// `pgm export MODEL_DIR --out DIR [--title TEXT] [--source TEXT] [--table FILE] [--table-title TEXT] [--json]`
struct ExportCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "export",
    abstract: "Export a model folder in the layout the public PyTorch code loads, with a model card.",
    discussion: """
      Writes DIR/model.safetensors (the reference's names and shapes, rotary_emb.inv_freq included, so that a strict \
      load_state_dict accepts it), DIR/config.json (the reference's Hydra configuration, nested: model, algo, noise, \
      sampling, training, data, tokenizer with the BOS/EOS/mask ids, and parameterization for SDTT students), \
      provenance.json, the tokenizer files or (synthetic data) markov_source.json, and DIR/README.md (a model card \
      with sizes, ids, sampling settings, provenance, SHA-256 and a loading snippet that runs on a CPU). \
      `pgm eval --model DIR` works on the folder alone.
      """)

  @Argument(help: "A model folder (config.json + model.safetensors), or a run folder with --round.")
  var model: String

  @Option(help: "Export the student of this SDTT round of the run folder given as argument (its trade-off rows go in the model card).")
  var round: Int?

  @Option(help: "The folder to write (created if needed).")
  var out: String

  @Option(help: "Title of the model card.")
  var title: String?

  @Option(help: "Where the weights come from, for the model card (default: the folder, and the checkpoint `pgm import` recorded).")
  var source: String?

  @Option(help: "A markdown file (e.g. a results table) to include in the model card.")
  var table: String?

  @Option(help: "Heading for the --table section.")
  var tableTitle: String = "Results"

  @Flag(help: "Print one JSON object instead of the summary.")
  var json = false

  func run() throws {
    if let round {
      try reportingErrors {
        let run = RunFolder(root: URL(fileURLWithPath: model))
        let recipe = try? JSONDecoder().decode(Recipe.self, from: Data(contentsOf: run.recipeCopy))
        let report = try? JSONDecoder().decode(RunReport.Document.self, from: Data(contentsOf: run.reportJSON))
        let out = try RunSession.exclusive(run) {
          try MainJob.exportStudent(round: round, run: run, report: report, recipe: recipe, to: URL(fileURLWithPath: self.out),
                                    log: Output.progress)
        }
        print("exported the round-\(round) student of \(run.root.path) to \(out.path)" + (report == nil ? " (no report.json yet: the card has no trade-off rows)" : ""))
      }
      return
    }
    let summary = try reportingErrors { () throws -> ExportSummary in
      var card = ModelCard(title: title, source: source)
      if let table {
        let url = URL(fileURLWithPath: table)
        guard let text = try? String(contentsOf: url, encoding: .utf8) else {
          throw CommandFailure("cannot read the table file \(url.path)")
        }
        card.sections.append(ModelCard.Section(title: tableTitle, markdown: text))
      }
      return try ModelExporting.export(modelFolder: URL(fileURLWithPath: model), to: URL(fileURLWithPath: out), card: card,
                                       log: Output.progress)
    }
    print(json ? try Output.json(summary) : summary.text)
  }
}

extension WeightChoice: ExpressibleByArgument {}
extension ModelConfig.PreQueryMode: ExpressibleByArgument {}
