using System.Globalization;
using System.Text;
using System.Text.Json;
using Raid5Actors.Geometry;
using static Raid5Actors.Md.MdFormat;

namespace Raid5Actors.Md;

/// <summary>One line of <c>mdadm --examine</c>: "Key : value", or a blank separator when <see cref="Key"/> is empty.</summary>
public sealed record MdExamineLine(string Key, string Value)
{
    public static readonly MdExamineLine Blank = new("", "");
}

/// <summary>
/// What <c>mdadm --examine</c> shows for a v1.x member (mdadm super1.c examine_super1), as values a
/// program can use, as mdadm-style text (<see cref="ToText"/>) and as JSON (<see cref="ToJson"/>,
/// camelCase, property names stable). Times are shown in UTC where mdadm uses local time.
/// </summary>
public sealed record MdExamineReport
{
    public required string Image { get; init; }

    /// <summary>Eight hex digits, "a92b4efc".</summary>
    public required string Magic { get; init; }

    /// <summary>"1.2", "1.1" or "1.0".</summary>
    public required string Version { get; init; }

    /// <summary>"0x1" style, as mdadm prints it.</summary>
    public required string FeatureMap { get; init; }

    public required string ArrayUuid { get; init; }

    public required string Name { get; init; }

    public required DateTimeOffset CreationTime { get; init; }

    /// <summary>"raid5", "raid1", ... or "-unknown-".</summary>
    public required string RaidLevel { get; init; }

    public required int Level { get; init; }

    public required int RaidDevices { get; init; }

    public required ulong AvailDevSizeSectors { get; init; }

    /// <summary>Null for levels without redundancy, which mdadm does not size this way.</summary>
    public required ulong? ArraySizeKib { get; init; }

    public required ulong UsedDevSizeSectors { get; init; }

    public required ulong DataOffsetSectors { get; init; }

    public required ulong SuperOffsetSectors { get; init; }

    /// <summary>Set when the member is being rebuilt (feature RECOVERY_OFFSET).</summary>
    public required ulong? RecoveryOffsetSectors { get; init; }

    /// <summary>Free sectors before and after the data area; null when mdadm would not print them.</summary>
    public required ulong? UnusedBeforeSectors { get; init; }

    public required ulong? UnusedAfterSectors { get; init; }

    /// <summary>"clean", or "active" when the array was not stopped cleanly (a resync is due).</summary>
    public required string State { get; init; }

    public required ulong ResyncOffsetSectors { get; init; }

    public required string DeviceUuid { get; init; }

    /// <summary>Sectors from the superblock to the internal bitmap, when there is one.</summary>
    public required int? InternalBitmapSectors { get; init; }

    /// <summary>"N sectors at offset M sectors from superblock" when the array keeps a partial parity log.</summary>
    public required string? Ppl { get; init; }

    /// <summary>Set while a reshape is in progress: where it is, in sectors of the array.</summary>
    public required ulong? ReshapePositionSectors { get; init; }

    public required int? DeltaDisks { get; init; }

    public required string? NewLevel { get; init; }

    public required string? NewLayout { get; init; }

    public required ulong? NewChunkSizeKib { get; init; }

    /// <summary>"write-mostly", "failfast", both, or null.</summary>
    public required string? Flags { get; init; }

    public required DateTimeOffset UpdateTime { get; init; }

    /// <summary>"512 entries available at offset 16 sectors" (and " - bad blocks present."), when a log is reserved.</summary>
    public required string? BadBlockLog { get; init; }

    /// <summary>Hex, without leading zeros, as mdadm prints it.</summary>
    public required string Checksum { get; init; }

    public required string ExpectedChecksum { get; init; }

    public required bool ChecksumCorrect { get; init; }

    public required ulong Events { get; init; }

    /// <summary>mdadm's layout name (RAID5 only; "-unknown-" for a number md does not define).</summary>
    public required string? Layout { get; init; }

    public required int LayoutNumber { get; init; }

    public required ulong ChunkSizeKib { get; init; }

    /// <summary>"Active device 2", "Replacement device 2", "spare" (also for a faulty one, as mdadm) or "Journal".</summary>
    public required string DeviceRole { get; init; }

    /// <summary>The role number, when the device holds one.</summary>
    public required int? Role { get; init; }

    /// <summary>One character per role: 'A' active, '.' missing, 'R' replacing, '?' inconsistent.</summary>
    public required string ArrayState { get; init; }

    public required uint DevNumber { get; init; }

    public required uint MaxDev { get; init; }

    /// <summary>Why this member cannot be read as part of a RAID5 array here; null when it can.</summary>
    public required string? ReadProblem { get; init; }

    /// <summary>Examines an image; throws <see cref="MdFormatException"/> when it carries no md superblock.</summary>
    public static MdExamineReport Examine(string imagePath)
    {
        using var handle = MdSuperblock.OpenImage(imagePath);
        var superblock = MdSuperblock.Probe(handle, imagePath, out var missing) ?? throw new MdFormatException(imagePath, missing);
        return From(superblock);
    }

    public static MdExamineReport From(MdSuperblock sb)
    {
        var (unusedBefore, unusedAfter) = UnusedSpace(sb);
        return new MdExamineReport
        {
            Image = sb.ImagePath,
            Magic = sb.Magic.ToString("x8", CultureInfo.InvariantCulture),
            Version = sb.Version,
            FeatureMap = $"0x{(uint)sb.FeatureMap:x}",
            ArrayUuid = sb.SetUuid.ToString(),
            Name = sb.SetName,
            CreationTime = sb.CreationTime,
            RaidLevel = sb.LevelName,
            Level = sb.Level,
            RaidDevices = sb.RaidDisks,
            AvailDevSizeSectors = sb.DataSizeSectors,
            ArraySizeKib = ArraySizeBytes(sb) / 1024,
            UsedDevSizeSectors = sb.SizeSectors,
            DataOffsetSectors = sb.DataOffsetSectors,
            SuperOffsetSectors = sb.SuperOffsetSectors,
            RecoveryOffsetSectors = sb.FeatureMap.HasFlag(MdFeatures.RecoveryOffset) ? sb.RecoveryOffsetSectors : null,
            UnusedBeforeSectors = unusedBefore,
            UnusedAfterSectors = unusedAfter,
            State = sb.IsClean ? "clean" : "active",
            ResyncOffsetSectors = sb.ResyncOffsetSectors,
            DeviceUuid = sb.DeviceUuid.ToString(),
            InternalBitmapSectors = sb.FeatureMap.HasFlag(MdFeatures.BitmapOffset) ? sb.BitmapOffsetSectors : null,
            Ppl = PplText(sb),
            ReshapePositionSectors = Reshaping(sb) ? sb.ReshapePositionSectors : null,
            DeltaDisks = Reshaping(sb) && sb.DeltaDisks != 0 ? sb.DeltaDisks : null,
            NewLevel = Reshaping(sb) && sb.NewLevel != sb.Level ? MdSuperblock.LevelNameOf(sb.NewLevel) : null,
            NewLayout = Reshaping(sb) && sb.NewLayout != sb.Layout && sb.Level == 5 ? LayoutName(sb.NewLayout) : null,
            NewChunkSizeKib = Reshaping(sb) && sb.NewChunkSectors != sb.ChunkSectors ? sb.NewChunkSectors / 2 : null,
            Flags = FlagsText(sb.DevFlags),
            UpdateTime = sb.UpdateTime,
            BadBlockLog = BadBlockLogText(sb),
            Checksum = sb.StoredChecksum.ToString("x", CultureInfo.InvariantCulture),
            ExpectedChecksum = sb.ComputedChecksum.ToString("x", CultureInfo.InvariantCulture),
            ChecksumCorrect = sb.ChecksumIsCorrect,
            Events = sb.Events,
            Layout = sb.Level == 5 ? LayoutName(sb.Layout) : null,
            LayoutNumber = sb.Layout,
            ChunkSizeKib = sb.ChunkSectors / 2,
            DeviceRole = DeviceRoleText(sb),
            Role = sb.Role,
            ArrayState = ArrayStateText(sb),
            DevNumber = sb.DevNumber,
            MaxDev = sb.MaxDev,
            ReadProblem = sb.FindReadProblem(),
        };
    }

    /// <summary>The lines mdadm prints, in its order and with its blank separators.</summary>
    public IReadOnlyList<MdExamineLine> Lines()
    {
        var lines = new List<MdExamineLine>
        {
            new("Magic", Magic),
            new("Version", Version),
            new("Feature Map", FeatureMap),
            new("Array UUID", ArrayUuid),
            new("Name", Name),
            new("Creation Time", MdSuperblock.FormatTime(CreationTime)),
            new("Raid Level", RaidLevel),
            new("Raid Devices", Invariant(RaidDevices)),
            MdExamineLine.Blank,
            new("Avail Dev Size", $"{Invariant(AvailDevSizeSectors)} sectors{HumanSize(AvailDevSizeSectors * kSectorBytes)}"),
        };
        if (ArraySizeKib is { } arrayKib)
            lines.Add(new("Array Size", $"{Invariant(arrayKib)} KiB{HumanSize(arrayKib * 1024)}"));
        if (Level > 0 && UsedDevSizeSectors != AvailDevSizeSectors)
            lines.Add(new("Used Dev Size", $"{Invariant(UsedDevSizeSectors)} sectors{HumanSize(UsedDevSizeSectors * kSectorBytes)}"));
        if (DataOffsetSectors != 0)
            lines.Add(new("Data Offset", $"{Invariant(DataOffsetSectors)} sectors"));
        lines.Add(new("Super Offset", $"{Invariant(SuperOffsetSectors)} sectors"));
        if (RecoveryOffsetSectors is { } recovery)
            lines.Add(new("Recovery Offset", $"{Invariant(recovery)} sectors"));
        if (UnusedBeforeSectors is { } before && UnusedAfterSectors is { } after)
            lines.Add(new("Unused Space", $"before={Invariant(before)} sectors, after={Invariant(after)} sectors"));
        lines.Add(new("State", State));
        lines.Add(new("Device UUID", DeviceUuid));
        lines.Add(MdExamineLine.Blank);
        if (InternalBitmapSectors is { } bitmap)
            lines.Add(new("Internal Bitmap", $"{Invariant(bitmap)} sectors from superblock"));
        else if (Ppl is not null)
            lines.Add(new("PPL", Ppl));
        if (ReshapePositionSectors is { } reshape)
            AddReshapeLines(lines, reshape);
        if (Flags is not null)
            lines.Add(new("Flags", Flags));
        lines.Add(new("Update Time", MdSuperblock.FormatTime(UpdateTime)));
        if (BadBlockLog is not null)
            lines.Add(new("Bad Block Log", BadBlockLog));
        lines.Add(new("Checksum", ChecksumCorrect ? $"{Checksum} - correct" : $"{Checksum} - expected {ExpectedChecksum}"));
        lines.Add(new("Events", Invariant(Events)));
        lines.Add(MdExamineLine.Blank);
        if (Layout is not null)
            lines.Add(new("Layout", Layout));
        if (Level is 0 or 4 or 5 or 6 or 10)
            lines.Add(new("Chunk Size", $"{Invariant(ChunkSizeKib)}K"));
        lines.Add(MdExamineLine.Blank);
        lines.Add(new("Device Role", DeviceRole));
        lines.Add(new("Array State", $"{ArrayState} ('A' == active, '.' == missing, 'R' == replacing)"));
        return lines;
    }

    /// <summary>mdadm's layout: keys right-aligned to column 15, " : ", the value.</summary>
    public string ToText()
    {
        var text = new StringBuilder();
        foreach (var line in Lines())
        {
            if (line.Key.Length == 0)
                text.Append('\n');
            else
                text.Append(line.Key.PadLeft(KeyWidth(line.Key))).Append(" : ").Append(line.Value).Append('\n');
        }

        return text.ToString();
    }

    public string ToJson() => JsonSerializer.Serialize(this, MdJson.Options);

    private void AddReshapeLines(List<MdExamineLine> lines, ulong reshapeSectors)
    {
        lines.Add(new("Reshape pos'n", $"{Invariant(reshapeSectors / 2)}{HumanSize(reshapeSectors * kSectorBytes)}"));
        if (DeltaDisks is { } delta)
            lines.Add(new("Delta Devices", $"{Invariant(delta)} ({Invariant(RaidDevices - delta)}->{Invariant(RaidDevices)})"));
        if (NewLevel is not null)
            lines.Add(new("New Level", NewLevel));
        if (NewLayout is not null)
            lines.Add(new("New Layout", NewLayout));
        if (NewChunkSizeKib is { } newChunk)
            lines.Add(new("New Chunksize", $"{Invariant(newChunk)}K"));
        lines.Add(MdExamineLine.Blank);
    }

    private static bool Reshaping(MdSuperblock sb) => sb.FeatureMap.HasFlag(MdFeatures.ReshapeActive);

    private static string LayoutName(int layout) =>
        layout is >= 0 and <= (int)Raid5Layout.ParityLast ? Raid5LayoutNames.ToName((Raid5Layout)layout) : "-unknown-";

    private static string? PplText(MdSuperblock sb)
    {
        if (sb.FeatureMap.HasFlag(MdFeatures.BitmapOffset) || (sb.FeatureMap & (MdFeatures.Ppl | MdFeatures.MultiplePpls)) == 0)
            return null;
        var (offset, size) = PplArea(sb);
        return $"{Invariant(size)} sectors at offset {Invariant(offset)} sectors from superblock";
    }

    // ppl.offset (s16) and ppl.size (u16) share the bitmap_offset word.
    private static (short OffsetSectors, ushort SizeSectors) PplArea(MdSuperblock sb) =>
        ((short)(sb.BitmapOffsetSectors & 0xffff), (ushort)((uint)sb.BitmapOffsetSectors >> 16));

    private static string? FlagsText(byte devFlags)
    {
        if (devFlags == 0)
            return null;
        var flags = new List<string>();
        if ((devFlags & kWriteMostly) != 0)
            flags.Add("write-mostly");
        if ((devFlags & kFailFast) != 0)
            flags.Add("failfast");
        return string.Join(' ', flags);
    }

    private static string? BadBlockLogText(MdSuperblock sb)
    {
        if (sb.BadBlockLogSectors == 0 || sb.BadBlockLogOffsetSectors == 0)
            return null;
        var entries = sb.BadBlockLogSectors * kSectorBytes / 8;
        var present = sb.FeatureMap.HasFlag(MdFeatures.BadBlocks) ? " - bad blocks present." : "";
        return $"{Invariant(entries)} entries available at offset {Invariant(sb.BadBlockLogOffsetSectors)} sectors{present}";
    }

    // mdadm prints these two one column to the left of the others.
    private static int KeyWidth(string key) => key is "Device Role" or "Array State" ? 14 : 15;

    private static string DeviceRoleText(MdSuperblock sb) => sb.RoleValue switch
    {
        >= kRoleFaulty => "spare",
        kRoleJournal => "Journal",
        var role when sb.FeatureMap.HasFlag(MdFeatures.Replacement) => $"Replacement device {Invariant(role)}",
        var role => $"Active device {Invariant(role)}",
    };

    // Per role, how many devices of dev_roles claim it: a second one is a replacement being rebuilt.
    private static string ArrayStateText(MdSuperblock sb)
    {
        var deltaExtra = sb.FeatureMap.HasFlag(MdFeatures.ReshapeActive) && sb.DeltaDisks < 0 ? -sb.DeltaDisks : 0;
        var roles = Math.Clamp(sb.RaidDisks + deltaExtra, 0, kMaxDevMax);
        var state = new StringBuilder(roles);
        for (var role = 0; role < roles; role++)
        {
            var claims = sb.DevRoles.Count(r => r == role);
            state.Append(claims switch
            {
                0 => '.',
                1 => 'A',
                2 when sb.Level > 0 => 'R',
                _ => '?',
            });
        }

        return state.ToString();
    }

    private static ulong? ArraySizeBytes(MdSuperblock sb)
    {
        var (dataDisks, denominator) = sb.Level switch
        {
            1 => (1L, 1L),
            4 or 5 => (sb.RaidDisks - 1L, 1L),
            6 => (sb.RaidDisks - 2L, 1L),
            10 => (sb.RaidDisks, (long)(sb.Layout & 255) * ((sb.Layout >> 8) & 255)),
            _ => (0L, 1L),
        };
        if (dataDisks <= 0 || denominator <= 0)
            return null;
        return sb.SizeSectors * kSectorBytes * (ulong)dataDisks / (ulong)denominator;
    }

    // mdadm's getinfo_super1 space_before / space_after; null where it would read the bitmap to know.
    private static (ulong? Before, ulong? After) UnusedSpace(MdSuperblock sb)
    {
        if (sb.FeatureMap.HasFlag(MdFeatures.NewOffset))
            return (null, null);
        var hasPpl = !sb.FeatureMap.HasFlag(MdFeatures.BitmapOffset) && (sb.FeatureMap & (MdFeatures.Ppl | MdFeatures.MultiplePpls)) != 0;
        long bitmapOffset = sb.FeatureMap.HasFlag(MdFeatures.BitmapOffset) ? sb.BitmapOffsetSectors : 0;
        var (pplOffset, pplSize) = hasPpl ? PplArea(sb) : ((short)0, (ushort)0);
        var dataSize = (long)(sb.Level <= 0 ? sb.DataSizeSectors : sb.SizeSectors);
        var dataOffset = (long)sb.DataOffsetSectors;
        var superOffset = (long)sb.SuperOffsetSectors;
        var hasBadBlockLog = sb.BadBlockLogOffsetSectors != 0 && sb.BadBlockLogSectors != 0;
        long before, after;
        if (dataOffset < superOffset)
        {
            before = dataOffset;
            var end = superOffset;
            if (hasBadBlockLog)
                end = Math.Min(end, superOffset + sb.BadBlockLogOffsetSectors);
            end = Math.Min(end, superOffset + bitmapOffset + pplOffset);
            after = dataOffset + dataSize < end ? end - dataSize - dataOffset : 0;
        }
        else
        {
            if (bitmapOffset > 0)
                return (null, null);
            var earliest = superOffset + ((32 + 4) * 2); // as mdadm: "match kernel"
            if (pplOffset > 0)
                earliest = Math.Max(earliest, (long)pplOffset + pplSize);
            if (hasBadBlockLog)
                earliest = Math.Max(earliest, superOffset + sb.BadBlockLogOffsetSectors + sb.BadBlockLogSectors);
            before = earliest < dataOffset ? dataOffset - earliest : 0;
            after = (sb.ImageBytes / kSectorBytes) - dataSize - dataOffset;
        }

        // mdadm hides the line when both are 0, and cannot show a negative space either.
        if ((before == 0 && after == 0) || before < 0 || after < 0)
            return (null, null);
        return ((ulong)before, (ulong)after);
    }

    /// <summary>mdadm's human_size: nothing below 5000 KiB, MiB/MB below 2 GiB, else GiB/GB, rounded to hundredths.</summary>
    internal static string HumanSize(ulong bytes)
    {
        if (bytes < 5000 * 1024)
            return "";
        if (bytes < 2UL * 1024 * 1024 * 1024)
        {
            var centiMib = ((bytes / ((1UL << 20) / 200)) + 1) / 2;
            var centiMb = ((bytes / (1_000_000UL / 200)) + 1) / 2;
            return $" ({Hundredths(centiMib)} MiB {Hundredths(centiMb)} MB)";
        }

        var centiGib = ((bytes / ((1UL << 30) / 200)) + 1) / 2;
        var centiGb = ((bytes / (1_000_000_000UL / 200)) + 1) / 2;
        return $" ({Hundredths(centiGib)} GiB {Hundredths(centiGb)} GB)";
    }

    private static string Hundredths(ulong centi) => string.Create(CultureInfo.InvariantCulture, $"{centi / 100}.{centi % 100:00}");

    private static string Invariant<T>(T value)
        where T : IFormattable => value.ToString(null, CultureInfo.InvariantCulture);
}
