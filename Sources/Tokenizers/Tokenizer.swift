/// What every tokenizer of this project offers: text ⇄ token ids, plus the ids that the models
/// need (the end-of-text token, which is both BOS and EOS here, and the mask token).
///
/// Ids are `Int32`: datasets store them in that width, and every vocabulary here is far below 2³¹.
/// The mask id is always `vocabularySize`: it is not part of the tokenizer's own vocabulary, and a
/// model that uses masking has `vocabularySize + 1` output classes.
public protocol Tokenizer: Sendable {
  /// The kind of tokenizer, e.g. `"byte-level-bpe"` or `"char"`.
  var kind: String { get }

  /// Number of ids the tokenizer itself produces (ordinary and special tokens, not the mask).
  var vocabularySize: Int { get }

  /// The id that starts a document (here the end-of-text token), if the tokenizer has one.
  var bos: Int32? { get }

  /// The id that ends a document (here the end-of-text token), if the tokenizer has one.
  var eos: Int32? { get }

  /// A stable description of the tokenizer's tables, for recording in dataset files: two
  /// tokenizers with the same identity produce the same ids for every text.
  var identity: TokenizerIdentity { get }

  /// Turns text into ids. Special-token strings such as `<|endoftext|>` inside the text are encoded
  /// as plain text. Throws only when the text cannot be represented (a character tokenizer meeting
  /// an unknown character); byte-level BPE never throws.
  func encode(_ text: String) throws -> [Int32]

  /// Turns ids back into text. Never fails: ids outside the vocabulary decode to U+FFFD, the mask id
  /// to `TokenizerConstants.maskText`, and bytes that do not form valid UTF-8 are replaced by U+FFFD.
  func decode(_ ids: [Int32]) -> String
}

extension Tokenizer {
  /// The id of the mask token: one past the tokenizer's own vocabulary.
  public var maskId: Int32 { Int32(vocabularySize) }

  /// The number of classes a masked model predicts: the vocabulary plus the mask token.
  public var vocabularySizeWithMask: Int { vocabularySize + 1 }
}

/// Names and texts shared by all tokenizers.
public enum TokenizerConstants {
  /// The end-of-text token: separates documents and serves as both BOS and EOS.
  public static let endOfText = "<|endoftext|>"

  /// What `decode` prints for the mask id, so that partially generated samples stay readable.
  public static let maskText = "<|mask|>"
}

/// A stable name for a tokenizer's tables: kind, vocabulary size and the SHA-256 of a canonical
/// serialisation of its tables (not of the file it was read from, so the same tokenizer read from a
/// `.tiktoken`, a `tokenizer.json` or `vocab.json` + `merges.txt` has the same identity).
public struct TokenizerIdentity: Sendable, Hashable, Codable, CustomStringConvertible {
  public var kind: String
  public var vocabularySize: Int
  /// Lower-case hex SHA-256 of the canonical tables.
  public var sha256: String

  public init(kind: String, vocabularySize: Int, sha256: String) {
    self.kind = kind
    self.vocabularySize = vocabularySize
    self.sha256 = sha256
  }

  /// e.g. `byte-level-bpe/50257/sha256:0123…`
  public var description: String { "\(kind)/\(vocabularySize)/sha256:\(sha256)" }
}
