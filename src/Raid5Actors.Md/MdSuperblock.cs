using System.Buffers.Binary;
using System.Collections.Immutable;
using System.Globalization;
using System.Numerics;
using System.Text;
using Microsoft.Win32.SafeHandles;
using Raid5Actors.Geometry;
using static Raid5Actors.Md.MdFormat;

namespace Raid5Actors.Md;

/// <summary>What a member's own superblock says it is (its dev_roles entry).</summary>
public enum MdRoleKind
{
    /// <summary>Holds role <see cref="MdSuperblock.Role"/> of the array.</summary>
    Active,

    /// <summary>No role (0xffff, or a dev_number beyond max_dev).</summary>
    Spare,

    /// <summary>Failed out of the array (0xfffe).</summary>
    Faulty,

    /// <summary>The array's write journal (0xfffd).</summary>
    Journal,
}

/// <summary>
/// One member's v1.x md superblock (struct mdp_superblock_1), parsed as it is on disk. Sizes and
/// offsets keep md's unit, 512-byte sectors, and say so in their names.
/// </summary>
/// <remarks>
/// <see cref="Probe(string)"/> parses whatever carries the md magic, so that a damaged superblock can
/// still be examined; <see cref="Read"/> and <see cref="TryRead"/> also insist that it is valid the way
/// md's super_1_load checks it, and that it describes a RAID5 array this reader can serve.
/// </remarks>
public sealed record MdSuperblock
{
    public required string ImagePath { get; init; }

    public required long ImageBytes { get; init; }

    /// <summary>0, 1 or 2 (v1.0 at the end, v1.1 at byte 0, v1.2 at byte 4096): where it was found.</summary>
    public required int MinorVersion { get; init; }

    public required uint Magic { get; init; }

    public required uint MajorVersion { get; init; }

    public required MdFeatures FeatureMap { get; init; }

    public required MdUuid SetUuid { get; init; }

    public required string SetName { get; init; }

    /// <summary>ctime as stored: low 40 bits seconds since 1970, top 24 bits microseconds.</summary>
    public required ulong CtimeRaw { get; init; }

    public required int Level { get; init; }

    /// <summary>md's layout number; for RAID5 the ALGORITHM_* value (<see cref="Raid5Layout"/>).</summary>
    public required int Layout { get; init; }

    /// <summary>md's "size": sectors of each member the array uses (dev_sectors).</summary>
    public required ulong SizeSectors { get; init; }

    public required uint ChunkSectors { get; init; }

    public required int RaidDisks { get; init; }

    /// <summary>Signed, from the superblock; meaningful with <see cref="MdFeatures.BitmapOffset"/>.</summary>
    public required int BitmapOffsetSectors { get; init; }

    public required int NewLevel { get; init; }

    public required ulong ReshapePositionSectors { get; init; }

    public required int DeltaDisks { get; init; }

    public required int NewLayout { get; init; }

    public required uint NewChunkSectors { get; init; }

    public required int NewOffsetSectors { get; init; }

    public required ulong DataOffsetSectors { get; init; }

    public required ulong DataSizeSectors { get; init; }

    public required ulong SuperOffsetSectors { get; init; }

    /// <summary>Also the journal tail on a journal device.</summary>
    public required ulong RecoveryOffsetSectors { get; init; }

    public required uint DevNumber { get; init; }

    public required uint CorrectedReads { get; init; }

    public required MdUuid DeviceUuid { get; init; }

    public required byte DevFlags { get; init; }

    public required byte BadBlockShift { get; init; }

    public required ushort BadBlockLogSectors { get; init; }

    public required int BadBlockLogOffsetSectors { get; init; }

    public required ulong UtimeRaw { get; init; }

    public required ulong Events { get; init; }

    /// <summary>Sectors known to be in sync; <see cref="ulong.MaxValue"/> (md's MaxSector) when clean.</summary>
    public required ulong ResyncOffsetSectors { get; init; }

    public required uint StoredChecksum { get; init; }

    /// <summary>md's calc_sb_1_csum of the bytes read; 0 when max_dev is too large to compute it.</summary>
    public required uint ComputedChecksum { get; init; }

    public required uint MaxDev { get; init; }

    /// <summary>The roles of every device of the array, indexed by dev_number (as many as were readable).</summary>
    public required ImmutableArray<ushort> DevRoles { get; init; }

    /// <summary>pad0 and pad3 are zero, as md writes them (md refuses non-zero padding as an unknown feature).</summary>
    public required bool PaddingIsZero { get; init; }

    public string Version => $"{MajorVersion}.{MinorVersion}";

    public bool ChecksumIsCorrect => StoredChecksum == ComputedChecksum;

    public bool IsClean => ResyncOffsetSectors == kMaxSector;

    public DateTimeOffset CreationTime => ToTime(CtimeRaw);

    public DateTimeOffset UpdateTime => ToTime(UtimeRaw);

    public long ChunkBytes => (long)ChunkSectors * kSectorBytes;

    /// <summary>This device's dev_roles entry (spare when dev_number is beyond max_dev, as mdadm reads it).</summary>
    public ushort RoleValue => DevNumber < (uint)DevRoles.Length ? DevRoles[(int)DevNumber] : kRoleSpare;

    public MdRoleKind RoleKind => RoleValue switch
    {
        kRoleSpare => MdRoleKind.Spare,
        kRoleFaulty => MdRoleKind.Faulty,
        kRoleJournal => MdRoleKind.Journal,
        < kRoleMax => MdRoleKind.Active,
        _ => MdRoleKind.Spare,
    };

    /// <summary>The role (0 .. raid disks - 1) this device holds, or null when it holds none.</summary>
    public int? Role => RoleKind == MdRoleKind.Active ? RoleValue : null;

    /// <summary>mdadm's name for the level ("raid5", "raid1", ...), or "-unknown-".</summary>
    public string LevelName => LevelNameOf(Level);

    /// <summary>mdadm's name for a level number.</summary>
    public static string LevelNameOf(int level) => level switch
    {
        -5 => "faulty",
        -4 => "multipath",
        -1 => "linear",
        0 => "raid0",
        1 => "raid1",
        4 => "raid4",
        5 => "raid5",
        6 => "raid6",
        10 => "raid10",
        _ => "-unknown-",
    };

    /// <summary>The engine's layout when the superblock's layout is one of md's six RAID5 algorithms.</summary>
    public Raid5Layout? KnownLayout => Layout is >= 0 and <= (int)Raid5Layout.ParityLast ? (Raid5Layout)Layout : null;

    /// <summary>Reads the member's superblock and insists that it is valid and describes a RAID5 array this reader can serve.</summary>
    public static MdSuperblock Read(string imagePath)
    {
        using var handle = OpenImage(imagePath);
        var superblock = Probe(handle, imagePath, out var missing) ?? throw new MdFormatException(imagePath, missing);
        superblock.EnsureReadable();
        return superblock;
    }

    /// <summary>
    /// Null when the image carries no md magic where a v1.x superblock lives (so the caller can try
    /// another format); otherwise as <see cref="Read"/>, which throws when the superblock is unusable.
    /// </summary>
    public static MdSuperblock? TryRead(string imagePath)
    {
        using var handle = OpenImage(imagePath);
        var superblock = Probe(handle, imagePath, out _);
        superblock?.EnsureReadable();
        return superblock;
    }

    /// <summary>
    /// The superblock as found, without validating it (for examining a damaged member); null when the
    /// image carries no md magic at byte 4096 (v1.2), 0 (v1.1) or near its end (v1.0).
    /// </summary>
    public static MdSuperblock? Probe(string imagePath)
    {
        using var handle = OpenImage(imagePath);
        return Probe(handle, imagePath, out _);
    }

    /// <summary>
    /// The first reason md would refuse this superblock (super_1_load's checks, in its order), or null
    /// when it is valid.
    /// </summary>
    public string? FindFormatProblem()
    {
        var superSector = MinorVersion switch
        {
            1 => kV11SuperSector,
            2 => kV12SuperSector,
            _ => V10SuperSector(ImageBytes),
        };
        if (MajorVersion != 1)
            return $"major version {MajorVersion} is not 1; only v1.x superblocks can be read";
        if (MaxDev > kMaxDevMax)
            return $"max_dev {MaxDev} exceeds the {kMaxDevMax} devices a 4 KiB superblock can hold";
        if (SuperOffsetSectors != (ulong)superSector)
            return $"super_offset {SuperOffsetSectors} sectors does not match where this v1.{MinorVersion} superblock lies (sector {superSector})";
        if ((FeatureMap & ~MdFeatures.All) != 0)
            return $"unknown feature bits 0x{(uint)(FeatureMap & ~MdFeatures.All):x} in feature map 0x{(uint)FeatureMap:x} (written by a newer md?)";
        if (!ChecksumIsCorrect)
            return $"checksum mismatch: stored 0x{StoredChecksum:x8}, computed 0x{ComputedChecksum:x8}";
        if (DataSizeSectors < 10)
            return $"data size {DataSizeSectors} sectors is too small";
        if (!PaddingIsZero)
            return "padding (pad0 or pad3) is not zero (written by a newer md?)";
        return FindAreaProblem(superSector) ?? FindSizeProblem();
    }

    /// <summary>
    /// The first reason this reader cannot serve the array this superblock describes (a format problem,
    /// a level other than 5, a reshape or journal, a shape outside the engine's limits), or null.
    /// </summary>
    public string? FindReadProblem()
    {
        if (FindFormatProblem() is { } format)
            return format;
        if (Level != 5)
            return $"level {Level} ({LevelName}) is not RAID5; only raid5 arrays can be read";
        if (FeatureMap.HasFlag(MdFeatures.ReshapeActive))
            return $"a reshape is in progress ({RaidDisks - DeltaDisks} -> {RaidDisks} devices, layout {Layout} -> {NewLayout}, " +
                $"chunk {ChunkSectors / 2} -> {NewChunkSectors / 2} KiB, at sector {ReshapePositionSectors} of the array); " +
                "an array in mid-reshape cannot be read";
        if (FeatureMap.HasFlag(MdFeatures.Journal) || RoleKind == MdRoleKind.Journal)
            return "the array has a write journal (MD_FEATURE_JOURNAL); journalled arrays cannot be read";
        if (KnownLayout is null)
            return $"layout {Layout} is not one of md's RAID5 layouts (0-5: {string.Join(", ", Enum.GetValues<Raid5Layout>().Select(Raid5LayoutNames.ToName))})";
        if (RaidDisks < ArrayGeometry.kMinMembers || RaidDisks > ArrayGeometry.kMaxMembers)
            return $"{RaidDisks} raid devices; this reader serves {ArrayGeometry.kMinMembers} to {ArrayGeometry.kMaxMembers}";
        if (ChunkBytes < ArrayGeometry.kMinChunkBytes || ChunkBytes > ArrayGeometry.kMaxChunkBytes || !BitOperations.IsPow2(ChunkBytes))
            return $"chunk size {ChunkBytes} bytes is not a power of two from 4 KiB to 4 MiB (this reader's limits)";
        if (SizeSectors * kSectorBytes < (ulong)ChunkBytes)
            return $"used device size {SizeSectors} sectors is smaller than one chunk ({ChunkSectors} sectors)";
        return null;
    }

    /// <summary>Throws <see cref="MdFormatException"/> with <see cref="FindReadProblem"/>'s reason, if any.</summary>
    public void EnsureReadable()
    {
        if (FindReadProblem() is { } problem)
            throw new MdFormatException(ImagePath, problem);
    }

    internal static SafeFileHandle OpenImage(string imagePath)
    {
        try
        {
            return File.OpenHandle(imagePath, FileMode.Open, FileAccess.Read, FileShare.Read, FileOptions.Asynchronous);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new MdFormatException(imagePath, $"cannot open the image: {e.Message}", e);
        }
    }

    /// <summary>Looks for the magic at v1.2's, v1.1's and v1.0's places, in that order.</summary>
    internal static MdSuperblock? Probe(SafeFileHandle handle, string imagePath, out string missingReason)
    {
        var imageBytes = RandomAccess.GetLength(handle);
        var buffer = new byte[kReadBytes];
        missingReason = "";
        foreach (var (minor, sector) in new[] { (2, kV12SuperSector), (1, kV11SuperSector), (0, V10SuperSector(imageBytes)) })
        {
            var at = sector * kSectorBytes;
            if (sector < 0 || at + kFixedBytes > imageBytes)
            {
                if (minor == 2)
                    missingReason = $"no md superblock (the image is only {imageBytes} bytes; a v1.2 superblock lies at byte {at})";
                continue;
            }

            var read = ReadUpTo(handle, buffer, at);
            var magic = BinaryPrimitives.ReadUInt32LittleEndian(buffer);
            if (magic == kMagic)
            {
                missingReason = "";
                return Parse(buffer.AsSpan(0, read), imagePath, imageBytes, minor);
            }

            if (minor == 2)
                missingReason = $"no md superblock (magic 0x{magic:x8} at byte {at}, expected 0x{kMagic:x8})";
        }

        return null;
    }

    /// <summary>Parses the bytes of a superblock whose magic is already known to match.</summary>
    internal static MdSuperblock Parse(ReadOnlySpan<byte> bytes, string imagePath, long imageBytes, int minorVersion)
    {
        var maxDev = U32(bytes, kMaxDevAt);
        var readableRoles = (int)Math.Min(maxDev, (uint)((bytes.Length - kFixedBytes) / 2));
        var roles = ImmutableArray.CreateBuilder<ushort>(readableRoles);
        for (var i = 0; i < readableRoles; i++)
            roles.Add(BinaryPrimitives.ReadUInt16LittleEndian(bytes[(kDevRolesAt + (2 * i))..]));
        var checksumReadable = maxDev <= kMaxDevMax && kFixedBytes + (2 * maxDev) <= bytes.Length;

        return new MdSuperblock
        {
            ImagePath = imagePath,
            ImageBytes = imageBytes,
            MinorVersion = minorVersion,
            Magic = U32(bytes, kMagicAt),
            MajorVersion = U32(bytes, kMajorVersionAt),
            FeatureMap = (MdFeatures)U32(bytes, kFeatureMapAt),
            SetUuid = MdUuid.FromBytes(bytes[kSetUuidAt..]),
            SetName = ReadName(bytes.Slice(kSetNameAt, kSetNameBytes)),
            CtimeRaw = U64(bytes, kCtimeAt),
            Level = (int)U32(bytes, kLevelAt),
            Layout = (int)U32(bytes, kLayoutAt),
            SizeSectors = U64(bytes, kSizeAt),
            ChunkSectors = U32(bytes, kChunkSizeAt),
            RaidDisks = (int)U32(bytes, kRaidDisksAt),
            BitmapOffsetSectors = (int)U32(bytes, kBitmapOffsetAt),
            NewLevel = (int)U32(bytes, kNewLevelAt),
            ReshapePositionSectors = U64(bytes, kReshapePositionAt),
            DeltaDisks = (int)U32(bytes, kDeltaDisksAt),
            NewLayout = (int)U32(bytes, kNewLayoutAt),
            NewChunkSectors = U32(bytes, kNewChunkAt),
            NewOffsetSectors = (int)U32(bytes, kNewOffsetAt),
            DataOffsetSectors = U64(bytes, kDataOffsetAt),
            DataSizeSectors = U64(bytes, kDataSizeAt),
            SuperOffsetSectors = U64(bytes, kSuperOffsetAt),
            RecoveryOffsetSectors = U64(bytes, kRecoveryOffsetAt),
            DevNumber = U32(bytes, kDevNumberAt),
            CorrectedReads = U32(bytes, kCorrectedReadsAt),
            DeviceUuid = MdUuid.FromBytes(bytes[kDeviceUuidAt..]),
            DevFlags = bytes[kDevFlagsAt],
            BadBlockShift = bytes[kBadBlockShiftAt],
            BadBlockLogSectors = BinaryPrimitives.ReadUInt16LittleEndian(bytes[kBadBlockSizeAt..]),
            BadBlockLogOffsetSectors = (int)U32(bytes, kBadBlockOffsetAt),
            UtimeRaw = U64(bytes, kUtimeAt),
            Events = U64(bytes, kEventsAt),
            ResyncOffsetSectors = U64(bytes, kResyncOffsetAt),
            StoredChecksum = U32(bytes, kChecksumAt),
            ComputedChecksum = checksumReadable ? Checksum(bytes, maxDev) : 0,
            MaxDev = maxDev,
            DevRoles = roles.MoveToImmutable(),
            PaddingIsZero = U32(bytes, kPad0At) == 0 && !bytes.Slice(kPad3At, kPad3Bytes).ContainsAnyExcept((byte)0),
        };
    }

    /// <summary>Formats a raw ctime/utime as mdadm prints it (ctime(3), here in UTC): "Mon Jan  2 15:04:05 2006".</summary>
    public static string FormatTime(DateTimeOffset time) =>
        time.UtcDateTime.ToString("ddd MMM ", CultureInfo.InvariantCulture)
        + time.UtcDateTime.Day.ToString(CultureInfo.InvariantCulture).PadLeft(2)
        + time.UtcDateTime.ToString(" HH:mm:ss yyyy", CultureInfo.InvariantCulture);

    private string? FindAreaProblem(long superSector)
    {
        // v1.1 and v1.2 put data after the superblock; md refuses data that would overlap it.
        var superblockSectors = (ulong)((kFixedBytes + (2 * MaxDev) + kSectorBytes - 1) / kSectorBytes);
        var imageSectors = (ulong)(ImageBytes / kSectorBytes);
        if (MinorVersion > 0 && DataOffsetSectors < (ulong)superSector + superblockSectors)
            return $"data offset {DataOffsetSectors} sectors overlaps the superblock at sector {superSector}";
        var dataEnd = DataOffsetSectors + DataSizeSectors;
        var limit = MinorVersion > 0 ? imageSectors : (ulong)superSector;
        if (dataEnd < DataOffsetSectors || dataEnd > limit)
        {
            return $"data area (offset {DataOffsetSectors} + size {DataSizeSectors} sectors) ends beyond the " +
                (MinorVersion > 0 ? $"image ({imageSectors} sectors)" : $"superblock at sector {superSector}");
        }

        return null;
    }

    private string? FindSizeProblem()
    {
        if (FeatureMap.HasFlag(MdFeatures.Raid0Layout) && Level != 0)
            return $"feature RAID0_LAYOUT is set on a level {Level} array";
        if (Level > 0 && SizeSectors > DataSizeSectors)
            return $"used device size {SizeSectors} sectors exceeds this member's data size {DataSizeSectors} sectors";
        return null;
    }

    private static int ReadUpTo(SafeFileHandle handle, byte[] buffer, long offset)
    {
        var total = 0;
        while (total < buffer.Length)
        {
            var read = RandomAccess.Read(handle, buffer.AsSpan(total), offset + total);
            if (read == 0)
                break;
            total += read;
        }

        buffer.AsSpan(total).Clear();
        return total;
    }

    private static string ReadName(ReadOnlySpan<byte> field)
    {
        var end = field.IndexOf((byte)0);
        return Encoding.UTF8.GetString(end < 0 ? field : field[..end]);
    }

    private static DateTimeOffset ToTime(ulong raw)
    {
        var seconds = (long)(raw & kTimeSecondsMask);
        var microseconds = (long)(raw >> 40);
        var max = DateTimeOffset.MaxValue.ToUnixTimeSeconds();
        return seconds >= max ? DateTimeOffset.MaxValue : DateTimeOffset.FromUnixTimeSeconds(seconds).AddTicks(Math.Min(microseconds, 999_999) * 10);
    }

    private static uint U32(ReadOnlySpan<byte> bytes, int at) => BinaryPrimitives.ReadUInt32LittleEndian(bytes[at..]);

    private static ulong U64(ReadOnlySpan<byte> bytes, int at) => BinaryPrimitives.ReadUInt64LittleEndian(bytes[at..]);
}
