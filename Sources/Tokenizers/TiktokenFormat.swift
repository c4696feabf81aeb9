import Foundation

/// tiktoken's rank files (`*.tiktoken`): one line per token, its bytes in base64, a space, and its
/// rank, which is its id. Special tokens are not in the file; they are added after the last rank.
public enum TiktokenFormat {
  /// Reads a rank file and builds the tables, deriving the merges from the ranks.
  /// - Parameter specialTokens: texts of the special tokens to add, with ids after the last rank.
  public static func read(_ url: URL, specialTokens: [String] = [TokenizerConstants.endOfText]) throws -> BPEModel {
    let ranks = try readRanks(url)
    do {
      return try BPEModel(ranks: ranks, specialTokens: specialTokens)
    } catch let error as TokenizerError {
      if case .invalidTables(let reason) = error {
        throw TokenizerError.malformedFile(path: url.path, reason: reason)
      }
      throw error
    }
  }

  /// The token bytes of a rank file, indexed by rank.
  public static func readRanks(_ url: URL) throws -> [[UInt8]] {
    try parseRanks(FileIO.readBytes(url), path: url.path)
  }

  /// Parses the text of a rank file. Ranks must be `0..<count`, each once, in any order.
  public static func parseRanks(_ text: [UInt8], path: String) throws -> [[UInt8]] {
    var byRank: [[UInt8]?] = []
    var lineNumber = 0
    var lineStart = 0
    var count = 0
    while lineStart < text.count {
      lineNumber += 1
      var lineEnd = lineStart
      while lineEnd < text.count && text[lineEnd] != UInt8(ascii: "\n") { lineEnd += 1 }
      var contentEnd = lineEnd
      if contentEnd > lineStart && text[contentEnd - 1] == UInt8(ascii: "\r") { contentEnd -= 1 }
      defer { lineStart = lineEnd + 1 }
      if contentEnd == lineStart { continue }  // blank lines are allowed
      let line = text[lineStart..<contentEnd]
      guard let space = line.firstIndex(of: UInt8(ascii: " ")) else {
        throw TokenizerError.malformedFile(path: path, reason: "line \(lineNumber): expected \"<base64> <rank>\"")
      }
      guard let bytes = Base64.decode(line[line.startIndex..<space]) else {
        throw TokenizerError.malformedFile(
          path: path, reason: "line \(lineNumber): \"\(String(decoding: line[line.startIndex..<space].prefix(40), as: UTF8.self))\" is not base64")
      }
      guard let rank = Int(String(decoding: line[(space + 1)...], as: UTF8.self)), rank >= 0, rank < 1 << 30 else {
        throw TokenizerError.malformedFile(path: path, reason: "line \(lineNumber): the rank is not a non-negative integer")
      }
      if rank >= byRank.count { byRank += Array(repeating: nil, count: rank + 1 - byRank.count) }
      guard byRank[rank] == nil else {
        throw TokenizerError.malformedFile(path: path, reason: "line \(lineNumber): rank \(rank) appears twice")
      }
      byRank[rank] = bytes
      count += 1
    }
    guard count > 0 else { throw TokenizerError.malformedFile(path: path, reason: "no ranks") }
    if let gap = byRank.firstIndex(where: { $0 == nil }) {
      throw TokenizerError.malformedFile(path: path, reason: "rank \(gap) is missing (ranks must be 0..<\(byRank.count))")
    }
    return byRank.map { $0! }
  }

  /// Writes a rank file. Only tables whose merge priorities follow the ids can be written this way
  /// (true of GPT-2 and of tokenizers trained here); special tokens are left out, as in tiktoken.
  public static func write(_ model: BPEModel, to url: URL) throws {
    guard model.mergesFollowIds else {
      throw TokenizerError.invalidArgument(
        "cannot write \(url.path): the merge priorities do not follow the token ids, which the tiktoken format requires")
    }
    let ordinaryCount = model.vocabularySize - model.specialTokens.count
    guard model.specialTokens.allSatisfy({ Int($0.id) >= ordinaryCount }) else {
      throw TokenizerError.invalidArgument("cannot write \(url.path): special tokens must come after all ordinary tokens")
    }
    var text = ""
    text.reserveCapacity(ordinaryCount * 16)
    for id in 0..<ordinaryCount {
      text += Data(model.bytes(of: Int32(id))).base64EncodedString()
      text += " \(id)\n"
    }
    try FileIO.write(text, to: url)
  }
}

/// Strict base64 (standard alphabet, `=` padding only at the end).
enum Base64 {
  private static let values: [Int8] = {
    var table = [Int8](repeating: -1, count: 256)
    for (index, char) in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8.enumerated() {
      table[Int(char)] = Int8(index)
    }
    return table
  }()

  static func decode(_ text: ArraySlice<UInt8>) -> [UInt8]? {
    guard !text.isEmpty, text.count % 4 == 0 else { return nil }
    var out: [UInt8] = []
    out.reserveCapacity(text.count / 4 * 3)
    var index = text.startIndex
    while index < text.endIndex {
      let isLastGroup = index + 4 == text.endIndex
      var group: UInt32 = 0
      var padding = 0
      for offset in 0..<4 {
        let char = text[index + offset]
        if char == UInt8(ascii: "=") {
          // Padding only in the last group, only in its last two places, and only at the end.
          guard isLastGroup, offset >= 2 else { return nil }
          padding += 1
          group <<= 6
        } else {
          let value = values[Int(char)]
          guard value >= 0, padding == 0 else { return nil }
          group = group << 6 | UInt32(value)
        }
      }
      out.append(UInt8(group >> 16))
      if padding < 2 { out.append(UInt8((group >> 8) & 0xff)) }
      if padding < 1 { out.append(UInt8(group & 0xff)) }
      index += 4
    }
    return out
  }
}
