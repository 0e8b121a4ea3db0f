/// GPT-2 style byte-level BPE, as SmolLM2 uses it (HF pre-tokenizer `Sequence[Digits(individual_digits),
/// ByteLevel(add_prefix_space: false)]`, no normalizer):
///
/// 1. split the text into pre-tokens: every digit alone, then the GPT-2 pattern
///    `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`;
/// 2. map each pre-token's UTF-8 bytes to the printable characters of GPT-2's byte table;
/// 3. merge adjacent symbols by the rank of the merge list, lowest rank first, until none applies;
/// 4. look each symbol up in the vocabulary.
public struct ByteLevelBPETokenizer: Sendable {
    public let tokens: [String]
    /// The merge list, "left right", highest priority first.
    public let merges: [String]
    let ids: [String: Int32]
    let mergeRanks: [String: Int]     // "left right" -> rank
    /// Special tokens matched verbatim before pre-tokenization (e.g. `<|im_start|>`).
    let specialTokens: [String]

    public init(tokens: [String], merges: [String], specialTokens: [String] = []) throws(QuantaError) {
        var ids = [String: Int32]()
        for (i, token) in tokens.enumerated() where ids[token] == nil { ids[token] = Int32(i) }
        var ranks = [String: Int]()
        for (rank, merge) in merges.enumerated() {
            guard merge.split(separator: " ").count == 2 else {
                throw .invalidArgument("merge \(rank) '\(merge)' is not two symbols separated by a space")
            }
            if ranks[merge] == nil { ranks[merge] = rank }
        }
        self.tokens = tokens
        self.merges = merges
        self.ids = ids
        self.mergeRanks = ranks
        self.specialTokens = specialTokens.filter { ids[$0] != nil }.sorted { $0.count > $1.count }
    }

    /// The tokenizer stored in a GGUF file's metadata (`tokenizer.ggml.tokens`, `tokenizer.ggml.merges`,
    /// `tokenizer.ggml.token_type`: type 3 marks control tokens, matched verbatim).
    public init(gguf: GGUFFile) throws(QuantaError) {
        guard let tokenValues = try gguf.value("tokenizer.ggml.tokens").array,
              let mergeValues = try gguf.value("tokenizer.ggml.merges").array else {
            throw .file(path: gguf.path, reason: "tokenizer.ggml.tokens / merges are not arrays")
        }
        let tokens = tokenValues.compactMap(\.string), merges = mergeValues.compactMap(\.string)
        guard tokens.count == tokenValues.count, merges.count == mergeValues.count else {
            throw .file(path: gguf.path, reason: "tokenizer.ggml.tokens / merges hold non-strings")
        }
        let types = gguf.metadata["tokenizer.ggml.token_type"]?.array?.map { $0.integer ?? 0 } ?? []
        let special = zip(tokens, types).filter { $0.1 == 3 }.map(\.0)
        try self.init(tokens: tokens, merges: merges, specialTokens: special)
    }

    /// Token ids of `text`. Control tokens written in the text (`<|im_start|>`) become their ids, as HF's
    /// published SmolLM2 tokenizer does; with `specialTokens: false` they are tokenized as plain text
    /// (llama.cpp's `special = false`).
    public func encode(_ text: String, specialTokens: Bool = true) -> [Int32] {
        var result = [Int32]()
        var rest = Substring(text)
        while !rest.isEmpty {
            // The earliest special token, if any, splits the text.
            var cut: (range: Range<Substring.Index>, token: String)?
            for token in specialTokens ? self.specialTokens : [] {
                if let range = rest.range(of: token), cut == nil || range.lowerBound < cut!.range.lowerBound { cut = (range, token) }
            }
            let plain = cut.map { rest[..<$0.range.lowerBound] } ?? rest
            for piece in Self.preTokenize(String(plain)) { result += bpe(piece) }
            guard let cut else { break }
            result.append(ids[cut.token]!)
            rest = rest[cut.range.upperBound...]
        }
        return result
    }

    /// Text of `ids` (byte-level decoding; invalid UTF-8 becomes U+FFFD).
    public func decode(_ ids: [Int32]) -> String {
        var bytes = [UInt8]()
        for id in ids where id >= 0 && Int(id) < tokens.count {
            for scalar in tokens[Int(id)].unicodeScalars {
                if let byte = Self.unicodeToByte[scalar.value] { bytes.append(byte) } else { bytes += Array(String(scalar).utf8) }
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// BPE of one pre-token.
    func bpe(_ piece: String) -> [Int32] {
        var symbols = piece.utf8.map { String(Self.byteToUnicode[Int($0)]) }
        while symbols.count > 1 {
            var best: (rank: Int, index: Int)?
            for i in 0..<symbols.count - 1 {
                if let rank = mergeRanks[symbols[i] + " " + symbols[i + 1]], best == nil || rank < best!.rank { best = (rank, i) }
            }
            guard let best else { break }
            // Merge every occurrence of that pair, left to right.
            let (left, right) = (symbols[best.index], symbols[best.index + 1])
            var merged = [String](), i = 0
            while i < symbols.count {
                if i < symbols.count - 1, symbols[i] == left, symbols[i + 1] == right { merged.append(left + right); i += 2 } else { merged.append(symbols[i]); i += 1 }
            }
            symbols = merged
        }
        return symbols.flatMap { symbol -> [Int32] in
            if let id = ids[symbol] { return [id] }
            // Unknown symbol: fall back to its bytes (every single byte is in a byte-level vocabulary).
            return symbol.unicodeScalars.compactMap { ids[String($0)] }
        }
    }

    /// GPT-2's byte -> printable character table: printable Latin-1 bytes map to themselves, the others
    /// to U+0100 and up in order.
    static let byteToUnicode: [Character] = {
        var table = [Character](repeating: " ", count: 256)
        var next: UInt32 = 256
        for b in 0..<256 {
            let printable = (33...126).contains(b) || (161...172).contains(b) || (174...255).contains(b)
            table[b] = Character(Unicode.Scalar(printable ? UInt32(b) : next)!)
            if !printable { next += 1 }
        }
        return table
    }()

    static let unicodeToByte: [UInt32: UInt8] = {
        var map = [UInt32: UInt8]()
        for (b, c) in byteToUnicode.enumerated() { map[c.unicodeScalars.first!.value] = UInt8(b) }
        return map
    }()

    /// Pre-tokenization: digits one by one, then the GPT-2 pattern on the rest.
    static func preTokenize(_ text: String) -> [String] {
        let scalars = Array(text.unicodeScalars)
        var pieces = [String]()
        var start = 0
        for i in 0...scalars.count where i == scalars.count || isNumber(scalars[i]) {
            if start < i { pieces += gpt2Split(Array(scalars[start..<i])) }
            if i < scalars.count { pieces.append(String(scalars[i])) }
            start = i + 1
        }
        return pieces
    }

    /// `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`, matched left to right.
    static func gpt2Split(_ s: [Unicode.Scalar]) -> [String] {
        var pieces = [String](), i = 0
        func take(_ end: Int) { pieces.append(String(String.UnicodeScalarView(s[i..<end]))); i = end }
        func run(from j: Int, while predicate: (Unicode.Scalar) -> Bool) -> Int {
            var k = j
            while k < s.count && predicate(s[k]) { k += 1 }
            return k
        }
        let contractions = ["s", "t", "re", "ve", "m", "ll", "d"]
        while i < s.count {
            if s[i] == "'", let suffix = contractions.first(where: { c in
                let cs = Array(c.unicodeScalars)
                return i + 1 + cs.count <= s.count && Array(s[i + 1..<i + 1 + cs.count]) == cs
            }) {
                take(i + 1 + suffix.unicodeScalars.count)
                continue
            }
            let j = s[i] == " " && i + 1 < s.count ? i + 1 : i
            if isLetter(s[j]) { take(run(from: j, while: isLetter)); continue }
            if isNumber(s[j]) { take(run(from: j, while: isNumber)); continue }
            if !isSpace(s[j]) { take(run(from: j) { !isSpace($0) && !isLetter($0) && !isNumber($0) }); continue }
            // Whitespace: \s+(?!\S) takes the run but leaves its last space for the next token when a
            // non-space follows; at the end of the text it takes the whole run.
            let end = run(from: i, while: isSpace)
            if end == s.count || end - i == 1 { take(end) } else { take(end - 1) }
        }
        return pieces
    }

    static func isLetter(_ s: Unicode.Scalar) -> Bool {
        switch s.properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: return true
        default: return false
        }
    }

    static func isNumber(_ s: Unicode.Scalar) -> Bool {
        switch s.properties.generalCategory {
        case .decimalNumber, .letterNumber, .otherNumber: return true
        default: return false
        }
    }

    static func isSpace(_ s: Unicode.Scalar) -> Bool { s.properties.isWhitespace }
}
