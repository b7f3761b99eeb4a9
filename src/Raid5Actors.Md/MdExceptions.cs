namespace Raid5Actors.Md;

/// <summary>An md array or member image could not be read; the message says which and why.</summary>
public abstract class MdException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>
/// A member image has no usable md superblock, or one this reader cannot serve (not RAID5, a reshape
/// or journal in progress, a shape outside the engine's limits). The message names the image.
/// </summary>
public sealed class MdFormatException(string imagePath, string reason, Exception? inner = null)
    : MdException($"{imagePath}: {reason}", inner)
{
    public string ImagePath { get; } = imagePath;

    /// <summary>The reason alone, without the image name.</summary>
    public string Reason { get; } = reason;
}

/// <summary>The images do not form one RAID5 array that can be read (mdadm would not assemble it either).</summary>
public sealed class MdAssemblyException(string message) : MdException(message);
