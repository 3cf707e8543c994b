/// What podwire's charts share: text escaping, one fixed way of writing numbers, "nice" axis
/// ticks and a palette. The charts are written as SVG text directly (no plotting library):
/// the same rows give the same bytes, so a chart can be committed and diffed.

enum SVG {
    /// `text` safe inside an element or a double-quoted attribute.
    static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for c in text.unicodeScalars {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            // XML 1.0 forbids most control characters even as references.
            case _ where c.value < 0x20 && c != "\t" && c != "\n" && c != "\r": out += "\u{FFFD}"
            default: out.unicodeScalars.append(c)
            }
        }
        return out
    }

    /// `value` rounded to `decimals` places, trailing zeros dropped: 12.5, 3, -0.25. Integer
    /// arithmetic after one rounding, so the text does not depend on the platform's printf.
    static func number(_ value: Double, decimals: Int = 2) -> String {
        guard value.isFinite else { return "0" }
        var scale: Int64 = 1
        for _ in 0..<decimals { scale *= 10 }
        let n = Int64((value * Double(scale)).rounded())
        if n == 0 { return "0" }
        let magnitude = n.magnitude
        var text = String(magnitude / UInt64(scale))
        let fraction = magnitude % UInt64(scale)
        if fraction != 0 {
            var digits = String(fraction)
            digits = String(repeating: "0", count: decimals - digits.count) + digits
            while digits.hasSuffix("0") { digits.removeLast() }
            text += "." + digits
        }
        return n < 0 ? "-" + text : text
    }

    /// Axis ticks from 0: a step of 1, 2, 2.5 or 5 × 10^k giving about `count` intervals up
    /// to at least `maximum`, and the top of the axis. A zero maximum gives 0…1.
    static func ticks(upTo maximum: Double, count: Int = 5) -> (step: Double, top: Double) {
        guard maximum > 0, maximum.isFinite else { return (0.2, 1) }
        let raw = maximum / Double(count)
        var magnitude = 1.0
        while magnitude * 10 <= raw { magnitude *= 10 }
        while magnitude > raw { magnitude /= 10 }
        let step = [1, 2, 2.5, 5, 10].map { $0 * magnitude }.first { $0 >= raw } ?? 10 * magnitude
        // Less a hair, so that 0.3 / 0.1 = 3.0000000000000004 is 3 intervals, not 4.
        let intervals = (maximum / step - 1e-9).rounded(.up)
        return (step, max(intervals, 1) * step)
    }

    /// Tableau 10: distinguishable, and readable on white.
    static let palette = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
                          "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"]

    static func color(_ index: Int) -> String { palette[index % palette.count] }

    /// The opening tag, a white background and the title, for a chart `width` × `height`.
    static func header(width: Double, height: Double, title: String, description: String) -> String {
        let w = number(width), h = number(height)
        return """
            <?xml version="1.0" encoding="UTF-8"?>
            <svg xmlns="http://www.w3.org/2000/svg" width="\(w)" height="\(h)" viewBox="0 0 \(w) \(h)" \
            font-family="DejaVu Sans, Helvetica, Arial, sans-serif" font-size="12">
            <title>\(escape(title))</title>
            <desc>\(escape(description))</desc>
            <rect width="100%" height="100%" fill="#ffffff"/>
            <text class="title" x="\(number(width / 2))" y="24" text-anchor="middle" font-size="15" font-weight="bold">\(escape(title))</text>

            """
    }
}
