import Formats
import Foundation

/// A configuration as a plain tree, whatever it was read from: the OmegaConf `DictConfig` that a
/// Lightning checkpoint pickles under `hyper_parameters`, or a `config.json`. Only lookups by
/// dotted path are needed, so dictionaries lose their order.
indirect enum ConfigNode: Equatable, Sendable {
  case null
  case bool(Bool)
  case int(Int)
  case double(Double)
  case string(String)
  case list([ConfigNode])
  case dict([String: ConfigNode])
  /// Something that is not plain data (a tensor, an unknown Python object), by its description.
  case other(String)

  /// The value at a dotted path (`"model.encoder.n_blocks"`), or nil if any step is missing.
  subscript(path: String) -> ConfigNode? {
    var node = self
    for key in path.split(separator: ".") {
      guard case .dict(let members) = node, let next = members[String(key)] else { return nil }
      node = next
    }
    return node
  }

  /// The members of a dictionary node (empty otherwise).
  var members: [String: ConfigNode] {
    if case .dict(let m) = self { return m }
    return [:]
  }

  /// A short rendering for error messages.
  var summary: String {
    switch self {
    case .null: return "null"
    case .bool(let b): return String(b)
    case .int(let n): return String(n)
    case .double(let x): return String(x)
    case .string(let s): return "'\(s.count > 60 ? String(s.prefix(60)) + "…" : s)'"
    case .list(let items): return "a list of \(items.count)"
    case .dict(let m): return "a mapping of \(m.count) keys"
    case .other(let what): return what.count > 60 ? String(what.prefix(60)) + "…" : what
    }
  }
}

extension ConfigNode {
  /// Converts a decoded pickle, unwrapping OmegaConf containers first. Dict entries whose keys
  /// are not strings are dropped (configs only use string keys).
  init(pickle value: PickleValue) {
    switch value.omegaConfContents {
    case .none: self = .null
    case .bool(let b): self = .bool(b)
    case .int(let n): self = Int(exactly: n).map { .int($0) } ?? .other("integer \(n)")
    case .float(let x): self = .double(x)
    case .string(let s): self = .string(s)
    case .list(let items), .tuple(let items): self = .list(items.map { ConfigNode(pickle: $0) })
    case .dict(let d):
      var members: [String: ConfigNode] = [:]
      for entry in d.entries {
        if let key = entry.key.stringValue { members[key] = ConfigNode(pickle: entry.value) }
      }
      self = .dict(members)
    case let other: self = .other(String(describing: other))
    }
  }
}

extension ConfigNode: Decodable {
  /// Decodes any JSON value. Integers stay integers (`4`), numbers with a fraction or exponent
  /// become doubles.
  init(from decoder: Decoder) throws {
    let c = try decoder.singleValueContainer()
    if c.decodeNil() { self = .null; return }
    if let b = try? c.decode(Bool.self) { self = .bool(b); return }
    if let n = try? c.decode(Int.self) { self = .int(n); return }
    if let x = try? c.decode(Double.self) { self = .double(x); return }
    if let s = try? c.decode(String.self) { self = .string(s); return }
    if let items = try? c.decode([ConfigNode].self) { self = .list(items); return }
    self = .dict(try c.decode([String: ConfigNode].self))
  }

  /// Reads a JSON file as a tree; errors name the file.
  static func readJSON(_ url: URL) throws -> ConfigNode {
    let data: Data
    do { data = try Data(contentsOf: url) } catch { throw ImportError.notFound(path: url.path, what: "the config file") }
    do { return try JSONDecoder().decode(ConfigNode.self, from: data) } catch {
      throw ImportError.unrecognisedSource(path: url.path, reason: "not valid JSON: \(describe(error))")
    }
  }
}

/// Typed reads from a configuration tree, with the file and path in every error.
struct ConfigReader {
  let root: ConfigNode
  /// The file the tree came from.
  let file: String
  /// How origins are labelled, e.g. "hyper_parameters" or "config.json".
  let label: String

  func origin(_ path: String) -> String { "\(path) in \(label)" }

  /// An integer, nil when absent or null. A double with an integral value counts.
  func int(_ path: String) throws -> Int? {
    switch root[path] {
    case nil, .null?: return nil
    case .int(let n)?: return n
    case .double(let x)? where x.rounded() == x && abs(x) < 1e15: return Int(x)
    case let other?: throw ImportError.invalidHyperParameter(file: file, path: origin(path), found: other.summary)
    }
  }

  func double(_ path: String) throws -> Double? {
    switch root[path] {
    case nil, .null?: return nil
    case .int(let n)?: return Double(n)
    case .double(let x)?: return x
    case let other?: throw ImportError.invalidHyperParameter(file: file, path: origin(path), found: other.summary)
    }
  }

  func string(_ path: String) throws -> String? {
    switch root[path] {
    case nil, .null?: return nil
    case .string(let s)?:
      if s.hasPrefix("${") || s == "???" {
        throw ImportError.invalidHyperParameter(file: file, path: origin(path), found: "the unresolved value '\(s)'")
      }
      return s
    case let other?: throw ImportError.invalidHyperParameter(file: file, path: origin(path), found: other.summary)
    }
  }

  func bool(_ path: String) throws -> Bool? {
    switch root[path] {
    case nil, .null?: return nil
    case .bool(let b)?: return b
    case let other?: throw ImportError.invalidHyperParameter(file: file, path: origin(path), found: other.summary)
    }
  }
}
