import Engine
import Formats
import Foundation
import Networks

/// A model on disk: `config.json` and `model.safetensors` (every parameter under the reference's
/// name, float32), optionally `provenance.json`, tokenizer files and `markov_source.json`.
///
/// `config.json` comes in two layouts, both read here: this project's flat `ModelConfig` (the
/// reference's field names, as in the golden configs; written for training outputs) and the
/// reference's nested Hydra configuration that `pgm export` writes (`ReferenceConfig`).
public enum ModelFolder {
  public static let configFile = "config.json"
  public static let weightsFile = "model.safetensors"
  /// The synthetic source of the training data, in exported folders (`MarkovSourceJSON` in Corpus).
  public static let markovSourceFile = "markov_source.json"
  /// Tokenizer files that travel with a model (beside config.json, as Hugging Face folders have
  /// them), so that `pgm sample` decodes text; also any `*.tiktoken`. `tokenizer_config.json`
  /// (written by exports) lets `transformers.AutoTokenizer` load `tokenizer.json` from the folder.
  public static let tokenizerFileNames: Set<String> = ["tokenizer.json", "vocab.json", "merges.txt", "char-tokenizer.json",
                                                       huggingFaceTokenizerConfig]
  public static let huggingFaceTokenizerConfig = "tokenizer_config.json"

  /// The tokenizer files of a folder (a single file is returned as itself), sorted by name.
  public static func tokenizerFiles(in source: URL) -> [URL] {
    let fm = FileManager.default
    var isDirectory: ObjCBool = false
    guard fm.fileExists(atPath: source.path, isDirectory: &isDirectory) else { return [] }
    let files = isDirectory.boolValue ? (try? fm.contentsOfDirectory(at: source, includingPropertiesForKeys: nil)) ?? [] : [source]
    return files.filter { tokenizerFileNames.contains($0.lastPathComponent) || $0.pathExtension == "tiktoken" }
      .sorted { $0.lastPathComponent < $1.lastPathComponent }
  }

  /// Copies the tokenizer files of `source` (a folder or one file) into `dir`, replacing old copies.
  public static func copyTokenizer(_ source: URL, into dir: URL) throws {
    let fm = FileManager.default
    for f in tokenizerFiles(in: source) {
      let destination = dir.appendingPathComponent(f.lastPathComponent)
      if f.standardizedFileURL == destination.standardizedFileURL { continue }
      try? fm.removeItem(at: destination)
      try fm.copyItem(at: f, to: destination)
    }
  }

  /// Reads a config file, in either layout.
  public static func readConfig(_ url: URL) throws -> ModelConfig {
    let data: Data
    do { data = try Data(contentsOf: url) } catch {
      throw CheckpointError.missingFile(url.path, "the model config")
    }
    if let root = try? JSONDecoder().decode(ConfigNode.self, from: data), ReferenceConfig.isHydra(root) {
      return try ReferenceConfig.modelConfig(from: root, file: url.path)
    }
    do { return try JSONDecoder().decode(ModelConfig.self, from: data) } catch let e as ConfigError {
      throw CheckpointError.invalid(url.path, e.description)
    } catch {
      throw CheckpointError.invalid(url.path, "not a model config: \(describe(error))")
    }
  }

  public static func writeConfig(_ config: ModelConfig, to url: URL) throws {
    let enc = JSONEncoder()
    enc.outputFormatting = [.prettyPrinted, .sortedKeys]
    try AtomicFile.write(try enc.encode(config), to: url)
  }

  /// Loads `dir/config.json` and the weights (`dir/model.safetensors`, or `weights`).
  public static func load(_ dir: URL, weights: URL? = nil) throws -> Network {
    let config = try readConfig(dir.appendingPathComponent(configFile))
    let network = try Network(config)
    try loadWeights(into: network.parameters, from: weights ?? dir.appendingPathComponent(weightsFile), config: config)
    return network
  }

  /// Loads weights, checking names and shapes first: every missing, unexpected and mis-shaped
  /// entry is reported in one error; non-finite values are refused.
  public static func loadWeights(into parameters: ParameterSet, from url: URL, config: ModelConfig? = nil) throws {
    guard FileManager.default.fileExists(atPath: url.path) else { throw CheckpointError.missingFile(url.path, "the weights") }
    let file = try SafeTensorsFile(url: url)
    try file.verifyChecksum()  // files written here record one; a damaged file must not load as other weights
    // A folder written by `pgm export` also carries the rotary buffer the reference's strict
    // load_state_dict expects; it is checked against the config, not loaded.
    var expected = parameters.shapes
    if let config, let entry = file.entry(ParameterNaming.rotaryBuffer) {
      expected.append((entry.name, entry.shape))
      try BufferCheck.rotary(try file.read(entry.name).doubles(), config: config, file: url.path)
    }
    try file.checkAgainst(expected: expected)
    for name in parameters.names {
      let values = try file.read(name).floats()
      if let bad = values.firstIndex(where: { !$0.isFinite }) {
        throw CheckpointError.invalid(url.path, "\(name) holds a non-finite value (\(values[bad])) at element \(bad)")
      }
      parameters.assign(name, values)
    }
  }

  /// Writes weights as float32 safetensors, in registration order, atomically.
  public static func saveWeights(_ parameters: ParameterSet, to url: URL, metadata: [String: String]? = nil) throws {
    let tensors = try zip(parameters.names, parameters.tensors).map { name, t in
      (name: name, tensor: try TensorData(floats: t.toArray(), shape: t.shape))
    }
    try SafeTensors.write(tensors, metadata: metadata, to: url)
  }

  /// Writes a complete model folder.
  public static func save(_ network: Network, to dir: URL, metadata: [String: String]? = nil) throws {
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    try writeConfig(network.config, to: dir.appendingPathComponent(configFile))
    try saveWeights(network.parameters, to: dir.appendingPathComponent(weightsFile), metadata: metadata)
  }
}

public enum CheckpointError: Error, CustomStringConvertible {
  case missingFile(String, String)
  case invalid(String, String)
  public var description: String {
    switch self {
    case .missingFile(let path, let what): return "\(what) not found: \(path)"
    case .invalid(let path, let why): return "\(path): \(why)"
    }
  }
}

func describe(_ error: Error) -> String {
  if let e = error as? DecodingError {
    switch e {
    case .keyNotFound(let k, _): return "missing field '\(k.stringValue)'"
    case .typeMismatch(_, let c), .valueNotFound(_, let c), .dataCorrupted(let c):
      let path = c.codingPath.map(\.stringValue).joined(separator: ".")
      return path.isEmpty ? c.debugDescription : "field '\(path)': \(c.debugDescription)"
    @unknown default: return "\(e)"
    }
  }
  return "\(error)"
}
