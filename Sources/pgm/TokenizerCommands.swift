import ArgumentParser
import Foundation
import Tokenizers

/// `pgm tokenizer convert|train`: tokenizer files.
struct TokenizerCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "tokenizer",
    abstract: "Convert and train tokenizers.",
    subcommands: [Convert.self, Train.self])

  /// `pgm tokenizer convert SRC --out DIR`
  struct Convert: ParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Read a BPE tokenizer (a .tiktoken rank file, a tokenizer.json, or a folder with vocab.json + merges.txt) "
        + "and write vocab.json, merges.txt and tokenizer.json.")

    @Argument(help: "The tokenizer to read: a file or a folder.")
    var source: String

    @Option(help: "The folder to write into (created if needed).")
    var out: String

    func run() throws {
      let output = URL(fileURLWithPath: out)
      let tokenizer = try TokenizerLoader.convert(URL(fileURLWithPath: source), to: output)
      print("wrote vocab.json, merges.txt and tokenizer.json to \(output.path)")
      print("\(tokenizer.vocabularySize) tokens, \(tokenizer.model.merges.count) merges, \(tokenizer.identity)")
    }
  }

  /// `pgm tokenizer train CORPUS... --vocab-size N --out DIR [--kind bpe|char]`
  struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Train a byte-level BPE (GPT-2 pre-tokeniser) or character tokenizer on text files.")

    @Argument(help: "Corpus files or folders (every file under a folder is read).")
    var corpus: [String]

    @Option(help: "Tokens in the vocabulary, <|endoftext|> included (BPE: required, at least 257; char: set by the corpus).")
    var vocabSize: Int?

    @Option(help: "The folder to write into (created if needed).")
    var out: String

    @Option(help: "bpe or char.")
    var kind: TrainableTokenizerKind = .bpe

    @Option(help: "BPE: never merge pairs seen fewer times than this.")
    var minPairCount: Int = 2

    func validate() throws {
      if corpus.isEmpty { throw ValidationError("give at least one corpus file or folder") }
      if kind == .bpe && vocabSize == nil { throw ValidationError("--vocab-size is required for a BPE tokenizer") }
    }

    func run() throws {
      let summary = try TokenizerTraining.train(
        corpus: corpus.map { URL(fileURLWithPath: $0) }, kind: kind, vocabularySize: vocabSize,
        minimumPairCount: minPairCount, to: URL(fileURLWithPath: out))
      print("trained a \(summary.kind.rawValue) tokenizer of \(summary.vocabularySize) tokens on "
        + "\(summary.files.count) files (\(summary.corpusBytes) bytes) in \(String(format: "%.2f", summary.seconds)) s")
      if summary.stoppedEarly {
        print("note: no pair occurred at least \(minPairCount) times beyond that size, so training stopped early")
      }
      print(summary.identity)
      for url in summary.written { print("wrote \(url.path)") }
    }
  }
}

extension TrainableTokenizerKind: ExpressibleByArgument {}

/// `pgm tokenize --tokenizer PATH [--json] [--decode]`: standard input to ids, or ids to text.
struct TokenizeCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "tokenize",
    abstract: "Encode UTF-8 text from standard input into token ids, or decode a JSON array of ids (--decode).")

  @Option(help: "The tokenizer: a .tiktoken, tokenizer.json, char-tokenizer.json, or a folder holding one.")
  var tokenizer: String

  @Flag(help: "Print the ids as one JSON array instead of space-separated.")
  var json = false

  @Flag(help: "Read a JSON array of ids from standard input and print their text.")
  var decode = false

  func run() throws {
    let tokenizer = try TokenizerLoader.load(URL(fileURLWithPath: tokenizer))
    let input = FileHandle.standardInput.readDataToEndOfFile()
    if decode {
      guard let ids = try? JSONDecoder().decode([Int32].self, from: input) else {
        throw TokenizerError.invalidArgument("--decode expects a JSON array of integer ids on standard input")
      }
      if let bad = ids.firstIndex(where: { $0 < 0 || Int($0) >= tokenizer.vocabularySize }) {
        throw TokenizerError.invalidArgument("--decode: id \(ids[bad]) (position \(bad)) is outside the tokenizer's \(tokenizer.vocabularySize) tokens (0…\(tokenizer.vocabularySize - 1))")
      }
      FileHandle.standardOutput.write(Data(tokenizer.decode(ids).utf8))
      return
    }
    // BPE encodes raw bytes, so even input that is not valid UTF-8 round-trips.
    let ids: [Int32]
    if let bpe = tokenizer as? BPETokenizer {
      ids = bpe.encode(bytes: [UInt8](input))
    } else {
      guard let text = String(data: input, encoding: .utf8) else {
        throw TokenizerError.invalidArgument("standard input is not valid UTF-8")
      }
      ids = try tokenizer.encode(text)
    }
    let separator = json ? "," : " "
    let body = ids.map(String.init).joined(separator: separator)
    print(json ? "[\(body)]" : body)
  }
}

/// `pgm bench tokenize [--json] [--corpus DIR] [--tokenizer PATH]` (nested under `bench`).
struct BenchTokenizeCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "tokenize",
    abstract: "Time encoding of a corpus (default: the Shakespeare texts with the GPT-2 ranks) on one thread.")

  @Flag(help: "Print the result as JSON (mb_per_s, tokens_per_s, bytes, tokens, …).")
  var json = false

  @Option(help: "Folder (or file) of UTF-8 text. Fetch the default with \(TokenizationBenchmark.corpusScript).")
  var corpus: String = TokenizationBenchmark.defaultCorpus

  @Option(help: "The tokenizer. Fetch the default with \(TokenizationBenchmark.tokenizerScript).")
  var tokenizer: String = TokenizationBenchmark.defaultTokenizer

  @Option(help: "Timed passes over the corpus, after one warm-up pass.")
  var passes: Int = 5

  func run() throws {
    let result = try TokenizationBenchmark.run(
      corpus: URL(fileURLWithPath: corpus), tokenizer: URL(fileURLWithPath: tokenizer), passes: passes)
    if json {
      let encoder = JSONEncoder()
      encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
      print(String(decoding: try encoder.encode(result), as: UTF8.self))
    } else {
      print(String(format: "%.2f MB/s, %.0f tokens/s, %.3f bytes/token (%d files, %d bytes, %d tokens, %d passes; cold first pass %.2f MB/s)",
                   result.mbPerSecond, result.tokensPerSecond, result.bytesPerToken, result.files, result.bytes,
                   result.tokens, result.passes, result.coldMBPerSecond))
      print(result.tokenizer)
    }
  }
}
