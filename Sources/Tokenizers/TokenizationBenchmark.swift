import Foundation

/// Encoding speed on a corpus, as `pgm bench tokenize` prints it. MB are 10⁶ bytes of UTF-8.
public struct TokenizationBenchmarkResult: Sendable, Codable {
  /// Bytes and tokens of one pass over the corpus.
  public var bytes: Int
  public var tokens: Int
  /// Timed passes (after one untimed warm-up pass) and their total time.
  public var passes: Int
  public var seconds: Double
  public var mbPerSecond: Double
  public var tokensPerSecond: Double
  public var bytesPerToken: Double
  /// The speed of the first pass, with an empty piece cache.
  public var coldMBPerSecond: Double
  public var files: Int
  public var tokenizer: String

  enum CodingKeys: String, CodingKey {
    case bytes, tokens, passes, seconds, files, tokenizer
    case mbPerSecond = "mb_per_s"
    case tokensPerSecond = "tokens_per_s"
    case bytesPerToken = "bytes_per_token"
    case coldMBPerSecond = "cold_mb_per_s"
  }
}

/// Times encoding on one thread.
public enum TokenizationBenchmark {
  /// The default corpus folder and the script that fetches it.
  public static let defaultCorpus = "data/shakespeare"
  public static let corpusScript = "scripts/fetch-shakespeare"
  /// The default tokenizer (the GPT-2 ranks) and the script that fetches it.
  public static let defaultTokenizer = "data/gpt2/gpt2.tiktoken"
  public static let tokenizerScript = "scripts/fetch-gpt2-ranks"

  /// Reads the corpus and the tokenizer, encodes the corpus once untimed (this also fills the piece
  /// cache, as a long-running encoder would have it), then `passes` times timed.
  public static func run(corpus: URL, tokenizer tokenizerURL: URL, passes: Int = 5) throws -> TokenizationBenchmarkResult {
    guard passes >= 1 else { throw TokenizerError.invalidArgument("the number of passes must be at least 1") }
    guard FileManager.default.fileExists(atPath: corpus.path) else {
      throw TokenizerError.invalidArgument("corpus not found at \(corpus.path); run \(corpusScript) to fetch the Shakespeare texts")
    }
    guard FileManager.default.fileExists(atPath: tokenizerURL.path) else {
      throw TokenizerError.invalidArgument("tokenizer not found at \(tokenizerURL.path); run \(tokenizerScript) to fetch the GPT-2 ranks")
    }
    let texts = try CorpusFiles.readTexts(CorpusFiles.expand([corpus]))
    let tokenizer = try TokenizerLoader.load(tokenizerURL)
    return try run(texts: texts, tokenizer: tokenizer, passes: passes)
  }

  /// Times encoding of some texts (see `run(corpus:tokenizer:passes:)`).
  public static func run(texts: [String], tokenizer: any Tokenizer, passes: Int = 5) throws -> TokenizationBenchmarkResult {
    let bytes = texts.reduce(0) { $0 + $1.utf8.count }
    let clock = ContinuousClock()

    var start = clock.now
    var tokens = 0
    for text in texts { tokens += try tokenizer.encode(text).count }
    let coldSeconds = TokenizerTraining.seconds(since: start, clock)

    start = clock.now
    var timedTokens = 0
    for _ in 0..<passes {
      for text in texts { timedTokens += try tokenizer.encode(text).count }
    }
    let seconds = TokenizerTraining.seconds(since: start, clock)
    guard timedTokens == tokens * passes else {
      throw TokenizerError.invalidTables(reason: "encoding the same corpus twice gave different token counts")
    }

    let totalBytes = Double(bytes * passes)
    return TokenizationBenchmarkResult(
      bytes: bytes, tokens: tokens, passes: passes, seconds: seconds,
      mbPerSecond: totalBytes / seconds / 1e6, tokensPerSecond: Double(timedTokens) / seconds,
      bytesPerToken: tokens > 0 ? Double(bytes) / Double(tokens) : 0,
      coldMBPerSecond: Double(bytes) / coldSeconds / 1e6, files: texts.count,
      tokenizer: tokenizer.identity.description)
  }
}
