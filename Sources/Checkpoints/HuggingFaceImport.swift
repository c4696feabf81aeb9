import Formats
import Foundation

/// A Hugging Face style model folder: `model.safetensors` and, usually, `config.json`. Covers the
/// MDLM on the hub (`kuleshov-group/mdlm-owt`: `MDLMConfig`, names under `backbone.`), the SDTT
/// students (`jdeschena/sdtt`: the whole Hydra config, names under `backbone.` or
/// `backbone.backbone.`), and the folders this project writes (its own config, bare names).
/// A lone `.safetensors` file is read the same way, with a `config.json` beside it if there is one.
struct HuggingFaceFolder {
  let weights: SafeTensorsSource
  /// The configuration's claims (empty without `config.json`) and its layout, for the summary.
  let claims: ArchitectureClaims
  let configLayout: String?

  init(url: URL) throws {
    var isDirectory: ObjCBool = false
    _ = FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory)
    let weightsURL: URL
    let folder: URL
    if isDirectory.boolValue {
      folder = url
      weightsURL = url.appendingPathComponent(ModelFolder.weightsFile)
      guard FileManager.default.fileExists(atPath: weightsURL.path) else {
        let binary = url.appendingPathComponent("pytorch_model.bin")
        if FileManager.default.fileExists(atPath: binary.path) {
          throw ImportError.unsupported(file: url.path, reason: "the folder holds pytorch_model.bin but no model.safetensors; "
            + "only safetensors weights are read (pickled weights can execute code when loaded)")
        }
        throw ImportError.notFound(path: weightsURL.path, what: "the weights (model.safetensors) of the model folder")
      }
    } else {
      folder = url.deletingLastPathComponent()
      weightsURL = url
    }
    weights = SafeTensorsSource(safetensors: try SafeTensorsFile(url: weightsURL))
    let configURL = folder.appendingPathComponent(ModelFolder.configFile)
    if FileManager.default.fileExists(atPath: configURL.path) {
      (claims, configLayout) = try ConfigurationClaims.fromConfigJSON(configURL)
    } else {
      (claims, configLayout) = (ArchitectureClaims(), nil)
    }
  }
}
