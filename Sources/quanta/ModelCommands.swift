import ArgumentParser
import Foundation
import Quanta

/// Prints a progress line on stderr (long work only).
func progress(_ message: String) {
    FileHandle.standardError.write(Data("\(message)\n".utf8))
}

/// Runs `body`, turning a QuantaError into a message on stderr and exit status 1.
func reportingErrors<T>(_ body: () throws(QuantaError) -> T) throws -> T {
    do { return try body() } catch { throw fail(error, status: ExitStatus.badInput) }
}

/// `--quantize-head`, for the verbs that take a recipe.
/// `--isa avx2`: measure the AVX2 class on any x86 CPU (Quanta's kernels, OpenBLAS and oneDNN at once).
struct ISAOption: ParsableArguments {
    enum ISA: String, ExpressibleByArgument { case native, avx2 }
    @Option(help: "native: the best kernels of this CPU; avx2: Quanta's avx2 path, OpenBLAS's Haswell kernels and oneDNN limited to AVX2, so that an AVX-512 machine measures the AVX2 class.")
    var isa: ISA = .native

    /// Re-executes the program with the AVX2 settings when they are asked for and not yet in force.
    func apply() {
        if isa == .avx2 { BLAS.reexecForcingAVX2() }
    }
}

struct HeadOption: ParsableArguments {
    @Flag(name: .customLong("quantize-head"), help: "Apply the recipe to a decoder's output head (the layer \"output\") too; by default it stays in FP32.")
    var quantizeHead = false
}

struct ModelOption: ParsableArguments {
    @Option(name: .long, help: "minilm, smollm2, or a path to a model folder (BERT safetensors) or a .gguf file.")
    var model: String

    /// The sentence-embedding model and its tokenizer, or exit 1 naming what was given instead.
    func sentenceEmbedder(for verb: String) throws -> (BertModel, WordPieceTokenizer) {
        let loaded = try reportingErrors { () throws(QuantaError) in try LoadedModel(ModelReference(model)) }
        guard case let .bert(bert, tokenizer) = loaded else {
            throw fail(.invalidArgument("\(verb) needs a sentence-embedding model (minilm), not \(model)"), status: ExitStatus.badInput)
        }
        return (bert, tokenizer)
    }

    /// The causal language model and its tokenizer, or exit 1 naming what was given instead.
    func languageModel(for verb: String) throws -> (LlamaModel, ByteLevelBPETokenizer) {
        let loaded = try reportingErrors { () throws(QuantaError) in try LoadedModel(ModelReference(model)) }
        guard case let .llama(llama, tokenizer) = loaded else {
            throw fail(.invalidArgument("\(verb) needs a causal language model (smollm2), not \(model)"), status: ExitStatus.badInput)
        }
        return (llama, tokenizer)
    }
}

/// Lines of standard input.
func standardInputLines() -> [String] {
    var text = readStandardInput()
    if text.hasSuffix("\n") { text.removeLast() }
    return text.isEmpty ? [] : text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
}

func jsonArray<T: CustomStringConvertible>(_ values: [T]) -> String { "[" + values.map(\.description).joined(separator: ",") + "]" }

struct TokenizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokenize",
        abstract: "Print the token ids of each line of stdin as a JSON array.",
        discussion: "MiniLM: WordPiece with [CLS] and [SEP], truncated to 256 ids as the embedder sees it. SmolLM2: byte-level BPE from the GGUF metadata, no BOS."
    )
    @OptionGroup var model: ModelOption

    func run() throws {
        let encode = try reportingErrors { () throws(QuantaError) in try TokenizerLoader.encoder(for: ModelReference(model.model)) }
        printLines(standardInputLines().map { jsonArray(encode($0)) })
    }
}

struct EmbedCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "embed",
        abstract: "Print the normalised sentence embedding of each line of stdin as a JSON array.",
        discussion: "Mean pooling over the tokens, then L2 normalisation (sentence-transformers' all-MiniLM-L6-v2). Inputs longer than 256 word pieces are truncated."
    )
    @OptionGroup var model: ModelOption

    func run() throws {
        let (bert, tokenizer) = try model.sentenceEmbedder(for: "embed")
        let lines = standardInputLines()
        var output = [String]()
        for start in stride(from: 0, to: lines.count, by: 32) {
            let batch = lines[start..<min(start + 32, lines.count)].map(tokenizer.encode)
            let embeddings = try reportingErrors { () throws(QuantaError) in try bert.embed(batch) }
            output += embeddings.map { jsonArray($0.map(NumberText.shortest)) }
        }
        printLines(output)
    }
}

struct PerplexityCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "perplexity",
        abstract: "Perplexity of a causal language model on a text file.",
        discussion: "The first --tokens tokens of the text (no BOS), in non-overlapping windows of --window tokens, each scored from an empty cache; every token after the first of its window is predicted. Progress on stderr; the last stdout line is `perplexity: X`."
    )
    @OptionGroup var model: ModelOption
    @Option(name: .long, help: "The text file.") var text: String
    @Option(name: .long, help: "Tokens to score, from the start of the text.") var tokens = 2048
    @Option(name: .long, help: "Window length in tokens.") var window = 512

    func run() throws {
        let (llama, tokenizer) = try model.languageModel(for: "perplexity")
        guard let content = try? String(contentsOfFile: text, encoding: .utf8) else {
            throw fail(.file(path: text, reason: "cannot be read as UTF-8 text"), status: ExitStatus.badInput)
        }
        let ids = Array(tokenizer.encode(content).prefix(tokens))
        let value = try reportingErrors { () throws(QuantaError) in
            try Perplexity(window: window).evaluate(llama, tokens: ids) { done, total in progress("window \(done)/\(total)") }
        }
        print("tokens: \(ids.count)")
        print(String(format: "perplexity: %.4f", value))
    }
}

struct GenerateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "Continue a prompt with a causal language model (KV cache, one token at a time).",
        discussion: "Streams the generated text to stdout, or with --ids prints the generated token ids as one JSON array. --greedy picks the most likely token (the default samples at temperature 0.8 with a fixed seed)."
    )
    @OptionGroup var model: ModelOption
    @Option(name: .long, help: "The prompt text.") var prompt: String
    @Option(name: .customLong("max-tokens"), help: "Tokens to generate.") var maxTokens = 64
    @Flag(help: "Greedy decoding (argmax).") var greedy = false
    @Flag(help: "Print the generated token ids as one JSON array instead of text.") var ids = false

    func run() throws {
        let (llama, tokenizer) = try model.languageModel(for: "generate")
        var generator = SplitMix64(seed: 0)
        var cache = LlamaModel.KVCache(for: llama.config)
        var input = tokenizer.encode(prompt)
        guard !input.isEmpty else { throw fail(.invalidArgument("the prompt is empty"), status: ExitStatus.badInput) }
        var generated = [Int32]()
        var printed = ""
        for _ in 0..<maxTokens {
            let logits = try reportingErrors { () throws(QuantaError) in try llama.forward(input, cache: &cache, lastOnly: true) }
            let next = Sampler.next(logits.row(0), greedy: greedy, temperature: 0.8, using: &generator)
            generated.append(next)
            input = [next]
            if !ids {
                let text = tokenizer.decode(generated)
                if text.count > printed.count, !text.hasSuffix("\u{FFFD}") {
                    FileHandle.standardOutput.write(Data(String(text.dropFirst(printed.count)).utf8))
                    printed = text
                }
            }
        }
        if ids { print(jsonArray(generated)) } else { print(String(tokenizer.decode(generated).dropFirst(printed.count))) }
    }
}
