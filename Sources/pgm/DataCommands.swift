import ArgumentParser
import Corpus
import Foundation

/// `pgm data text|synthetic|inspect`: token datasets (`tokens.h5`).
struct DataCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "data",
    abstract: "Build and inspect token datasets: packed text corpora or the synthetic Markov source.",
    subcommands: [Text.self, Synthetic.self, Inspect.self])

  /// `pgm data text CORPUS... --tokenizer PATH|char --length L --out F.h5`
  struct Text: ParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Tokenise text files into rows [BOS] chunk [EOS] of L tokens (documents joined with EOS, "
        + "the last partial chunk dropped, rows shuffled), split into train and validation by documents.")

    @Argument(help: "Text files or folders (a folder stands for every regular file under it, sorted).")
    var corpus: [String]

    @Option(help: ArgumentHelp("A tokenizer file or folder (GPT-2 ranks, tokenizer.json, …), or 'char' to build a "
                                 + "character tokenizer from the corpus, saved as F.tokenizer/char-tokenizer.json."))
    var tokenizer: String

    @Option(help: "Tokens per row, BOS and EOS included (at least 3).")
    var length: Int

    @Option(help: "The dataset file to write.")
    var out: String

    @Option(help: "About this fraction of the text (by bytes, whole documents) goes to validation.")
    var validationFraction: Double = 0.05

    @Option(help: "Seed of the validation choice and the row order.")
    var seed: UInt64 = 0

    @Flag(help: "Overwrite the output file if it exists.")
    var force = false

    func validate() throws {
      if corpus.isEmpty { throw ValidationError("give at least one corpus file or folder") }
      if length < 3 { throw ValidationError("--length must be at least 3 (BOS, one token, EOS), got \(length)") }
      if !(0..<1).contains(validationFraction) {
        throw ValidationError("--validation-fraction must be in [0, 1), got \(validationFraction)")
      }
    }

    func run() throws {
      try reportingErrors {
        let choice: TextTokenizerChoice = tokenizer == "char" ? .characters : .file(URL(fileURLWithPath: tokenizer))
        let options = TextDatasetOptions(
          corpus: corpus.map { URL(fileURLWithPath: $0) }, tokenizer: choice, length: length,
          output: URL(fileURLWithPath: out), validationFraction: validationFraction, seed: seed, overwrite: force)
        let s = try TextDatasetBuilder.build(options)
        print("wrote \(s.output): \(s.files) documents, \(s.bytes) bytes, \(s.textTokens) tokens "
                + String(format: "(%.3f bytes/token)", s.bytesPerToken))
        for (name, split) in [("train", s.train), ("validation", s.validation)] {
          print("  \(name): \(split.rows) rows of \(length), \(split.documents) documents, \(split.tokens) stream tokens, "
                  + "\(split.droppedTokens) dropped")
        }
        print("  split by \(s.splitRule.rawValue)"
                + (s.validationFiles.isEmpty ? "" : ": " + s.validationFiles.map {
                  URL(fileURLWithPath: $0).lastPathComponent }.joined(separator: ", ")))
        print("  tokenizer \(s.tokenizer) at \(s.tokenizerPath)")
        print(String(format: "  %.2f s tokenising, %.2f s writing", s.tokenizeSeconds, s.writeSeconds))
      }
    }
  }

  /// `pgm data synthetic --out F.h5 [--vocab V --branching B --order 1|2 --length L --sequences N]`
  struct Synthetic: ParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Draw a sparse Markov source (each context allows B of V symbols) and write its samples, with "
        + "the source stored in the file for exact scoring of model samples.")

    @Option(help: "The dataset file to write.")
    var out: String

    @Option(help: "Symbols V (BOS is V; the model's vocabulary is V + 2 with the mask).")
    var vocab: Int = 64

    @Option(help: "Successors B allowed per context (2 ... V).")
    var branching: Int = 4

    @Option(help: "1: the context is the previous symbol; 2: the previous two.")
    var order: Int = 1

    @Option(help: "Tokens per row, BOS included.")
    var length: Int = 128

    @Option(help: "Training rows.")
    var sequences: Int = 16_384

    @Option(help: "Validation rows (drawn independently from the same source).")
    var validation: Int = 1_024

    @Option(help: "Seed of the source and of the rows.")
    var seed: UInt64 = 0

    @Flag(help: "Overwrite the output file if it exists.")
    var force = false

    func validate() throws {
      if vocab < 2 { throw ValidationError("--vocab must be at least 2, got \(vocab)") }
      if branching > vocab { throw ValidationError("--branching \(branching) exceeds --vocab \(vocab)") }
      if branching < 2 { throw ValidationError("--branching must be at least 2, got \(branching)") }
      if order != 1 && order != 2 { throw ValidationError("--order must be 1 or 2, got \(order)") }
      if length < 3 { throw ValidationError("--length must be at least 3, got \(length)") }
      if sequences < 1 { throw ValidationError("--sequences must be at least 1, got \(sequences)") }
      if validation < 0 { throw ValidationError("--validation must not be negative, got \(validation)") }
    }

    func run() throws {
      try reportingErrors {
        var options = SyntheticDatasetOptions(output: URL(fileURLWithPath: out))
        options.symbols = vocab
        options.branching = branching
        options.order = order
        options.length = length
        options.sequences = sequences
        options.validationSequences = validation
        options.seed = seed
        options.overwrite = force
        let s = try SyntheticDatasetBuilder.build(options)
        print("wrote \(s.output): \(s.trainRows) train + \(s.validationRows) validation rows of \(s.length) tokens "
                + "from an order-\(s.order) source, V = \(s.symbols), B = \(s.branching) (model vocabulary \(s.symbols + 2))")
        print(String(format: "  entropy rate %.4f nats/symbol; the source's own rows score NLL %.4f, forbidden 0, "
                       + "sample entropy %.4f; a uniform sampler is %.4f forbidden",
                     s.entropyRate, s.expectedNLL, s.sampleEntropy, s.uniformForbiddenRate))
        print(String(format: "  %.2f s", s.seconds))
      }
    }
  }

  /// `pgm data inspect F.h5 [--rows N]`
  struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Print a token dataset's layout, attributes and a few decoded rows.")

    @Argument(help: "The dataset file.")
    var file: String

    @Option(help: "Rows shown per split.")
    var rows: Int = 3

    @Flag(help: "Also time reads of random training batches of 8 and 64 rows.")
    var timeReads = false

    func run() throws {
      try reportingErrors {
        print(try DatasetInspection.describe(path: file, rows: max(0, rows)))
        guard timeReads else { return }
        let dataset = try TokenDataset(path: file)
        for batch in [8, 64] {
          let t = try dataset.timeRandomBatches(.train, batchRows: batch, batches: 200)
          print(String(format: "  random batches of %d rows: %.3f ms each (first, cold: %.3f ms; %d batches)",
                       batch, t.millisecondsPerBatch, t.firstBatchMilliseconds, t.batches))
        }
      }
    }
  }
}
