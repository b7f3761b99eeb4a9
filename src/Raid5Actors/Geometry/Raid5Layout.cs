namespace Raid5Actors.Geometry;

/// <summary>
/// Where parity and data chunks sit in each row. The numbers are md's ALGORITHM_* values
/// (include/linux/raid/pq.h, drivers/md/raid5.h) so a layout read from an md superblock maps 1:1.
/// </summary>
public enum Raid5Layout
{
    /// <summary>Parity rotates from the last member down; data restarts at member 0.</summary>
    LeftAsymmetric = 0,

    /// <summary>Parity rotates from member 0 up; data restarts at member 0.</summary>
    RightAsymmetric = 1,

    /// <summary>Parity rotates from the last member down; data continues after parity. md's default.</summary>
    LeftSymmetric = 2,

    /// <summary>Parity rotates from member 0 up; data continues after parity.</summary>
    RightSymmetric = 3,

    /// <summary>Parity always on member 0 (md ALGORITHM_PARITY_0).</summary>
    ParityFirst = 4,

    /// <summary>Parity always on the last member (md ALGORITHM_PARITY_N, i.e. RAID4).</summary>
    ParityLast = 5,
}

/// <summary>mdadm's spellings of <see cref="Raid5Layout"/>, for the CLI and configuration.</summary>
public static class Raid5LayoutNames
{
    // Indexed by the enum value, so ToName needs no dictionary and no allocation.
    private static readonly string[] kNames =
    [
        "left-asymmetric", "right-asymmetric", "left-symmetric", "right-symmetric", "parity-first", "parity-last",
    ];

    // mdadm's short aliases, in enum order like kNames.
    private static readonly string[] kShortNames = ["la", "ra", "ls", "rs"];

    public static string ToName(Raid5Layout layout)
    {
        var index = (int)layout;
        if ((uint)index >= (uint)kNames.Length)
        {
            throw new Raid5GeometryException($"Layout value {index} is not a defined RAID5 layout; valid layouts: {ValidNames()}.");
        }

        return kNames[index];
    }

    public static bool TryParse(string? text, out Raid5Layout layout)
    {
        layout = default;
        if (text is null)
        {
            return false;
        }

        var trimmed = text.Trim();
        var index = IndexOf(kNames, trimmed);
        if (index < 0)
        {
            index = IndexOf(kShortNames, trimmed);
        }

        if (index < 0)
        {
            index = ParseMdNumber(trimmed);
        }

        if (index < 0)
        {
            return false;
        }

        layout = (Raid5Layout)index;
        return true;
    }

    public static Raid5Layout Parse(string? text)
    {
        if (TryParse(text, out var layout))
        {
            return layout;
        }

        throw new Raid5GeometryException(
            $"Unknown RAID5 layout '{text}'; valid layouts: {ValidNames()} (or la, ra, ls, rs, or md numbers 0-5).");
    }

    public static string ValidNames() => string.Join(", ", kNames);

    private static int IndexOf(string[] names, string text)
    {
        for (var i = 0; i < names.Length; i++)
        {
            if (string.Equals(names[i], text, StringComparison.OrdinalIgnoreCase))
            {
                return i;
            }
        }

        return -1;
    }

    // Only the single digits md uses; "05" or "+1" are more likely typos than layouts.
    private static int ParseMdNumber(string text)
    {
        if (text.Length == 1 && text[0] >= '0' && text[0] < '0' + kNames.Length)
        {
            return text[0] - '0';
        }

        return -1;
    }
}
