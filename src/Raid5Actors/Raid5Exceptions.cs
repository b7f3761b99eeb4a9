namespace Raid5Actors;

/// <summary>The array refused or could not complete an operation; the message says why.</summary>
public class Raid5Exception(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>What would let a refused open go ahead, at the caller's risk (the refusal's message says which risk).</summary>
public enum Raid5OpenOverride
{
    /// <summary>Nothing: the array cannot be opened as it is.</summary>
    None,

    /// <summary><see cref="Raid5ArrayOptions.AllowDegraded"/>: run without the member named in the message.</summary>
    AllowDegraded,

    /// <summary><see cref="Raid5ArrayOptions.Force"/>: start a dirty degraded array, or take back failed members.</summary>
    Force,
}

/// <summary>Creating or opening an array was refused; nothing was written.</summary>
public sealed class Raid5OpenException(string message, Exception? inner = null, Raid5OpenOverride overrideWith = Raid5OpenOverride.None)
    : Raid5Exception(message, inner)
{
    /// <summary>The option that would open the array anyway, so that tools can name their own flag for it.</summary>
    public Raid5OpenOverride Override { get; } = overrideWith;
}

/// <summary>A member read or write failed while serving a request.</summary>
public sealed class Raid5IoException(string message) : Raid5Exception(message);
