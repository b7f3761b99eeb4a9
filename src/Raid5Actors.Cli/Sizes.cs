using System.Globalization;

namespace Raid5Actors.Cli;

/// <summary>Byte sizes as people type them: 4096, 64K, 100M, 1G, 2T (binary units; a trailing B or iB is allowed).</summary>
internal static class Sizes
{
    private static readonly (string Suffix, int Shift)[] s_units = [("K", 10), ("M", 20), ("G", 30), ("T", 40)];

    public static bool TryParse(string text, out long bytes)
    {
        bytes = 0;
        var s = text.Trim().ToUpperInvariant();
        if (s.EndsWith("IB", StringComparison.Ordinal))
            s = s[..^2];
        else if (s.EndsWith('B'))
            s = s[..^1];
        var shift = 0;
        foreach (var (suffix, unitShift) in s_units)
        {
            if (s.EndsWith(suffix, StringComparison.Ordinal))
            {
                shift = unitShift;
                s = s[..^1];
                break;
            }
        }
        if (!long.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out var value) || value > long.MaxValue >> shift)
            return false;
        bytes = value << shift;
        return true;
    }

    /// <summary>1536 → "1.5 KiB"; exact byte counts stay available in --json output.</summary>
    public static string Format(double bytes)
    {
        string[] units = ["B", "KiB", "MiB", "GiB", "TiB"];
        var unit = 0;
        while (Math.Abs(bytes) >= 1024 && unit < units.Length - 1)
        {
            bytes /= 1024;
            unit++;
        }
        return unit == 0 ? $"{bytes:0} B" : string.Create(CultureInfo.InvariantCulture, $"{bytes:0.#} {units[unit]}");
    }

    /// <summary>mdadm's chunk spelling: 65536 → "64K".</summary>
    public static string FormatChunk(long bytes) => bytes % (1 << 20) == 0 ? $"{bytes >> 20}M" : $"{bytes >> 10}K";
}
